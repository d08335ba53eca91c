print("codebegenfs")
