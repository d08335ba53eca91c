// Unit tests of the naming rules (DESIGN §1, §8) without FUSE.
import SystemPackage
import Testing

@testable import GenerationStore

@Suite struct NameRulesTests {
    @Test(arguments: ["p1", "A", "gen-123", "a.b_c-d", String(repeating: "x", count: 128)])
    func acceptsValidIDs(_ id: String) throws {
        #expect(try NameRules.parseID(Array(id.utf8), what: "project") == id)
    }

    @Test(arguments: ["..", ".hidden", "-x", "_x", "bad id", "a/b", "é", String(repeating: "x", count: 129), ""])
    func refusesInvalidIDs(_ id: String) {
        #expect(throws: FSError.self) { try NameRules.parseID(Array(id.utf8), what: "project") }
        do {
            _ = try NameRules.parseID(Array(id.utf8), what: "project")
        } catch {
            #expect(error.errno == .invalidArgument)
        }
    }

    @Test func versionNames() {
        #expect(NameRules.versionNumber(Array("v1".utf8)) == 1)
        #expect(NameRules.versionNumber(Array("v42".utf8)) == 42)
        for bad in ["v0", "v01", "v", "x1", "V1", "v1a", "v-1", "v99999999999"] {
            #expect(NameRules.versionNumber(Array(bad.utf8)) == nil, "\(bad)")
        }
    }

    @Test func longNamesAreNameTooLong() {
        do {
            try NameRules.checkName([UInt8](repeating: UInt8(ascii: "a"), count: 256))
            Issue.record("a 256-byte name was accepted")
        } catch {
            #expect(error.errno == .fileNameTooLong)
        }
        #expect(throws: Never.self) { try NameRules.checkName([UInt8](repeating: UInt8(ascii: "a"), count: 255)) }
    }

    @Test func printableEscapesBytes() {
        #expect(NameRules.printable([0x61, 0xff, 0x0a]) == "\"a\\xff\\xa\"")
    }

    @Test func readablePathsKeepUTF8AndEscapeTheRest() {
        #expect(NameRules.readablePath(Array("dir/café.txt".utf8)) == "dir/café.txt")
        #expect(NameRules.readablePath(Array("bad-".utf8) + [0xff, 0xfe] + Array(".txt".utf8)) == "bad-\\xff\\xfe.txt")
        #expect(NameRules.readablePath(Array("new\nline\ttab".utf8)) == "new\\x0aline\\x09tab")
        #expect(NameRules.readablePath(Array("back\\slash é".utf8)) == "back\\x5cslash é", "a backslash is escaped: no ambiguity")
        #expect(NameRules.readablePath([0xe2, 0x82]) == "\\xe2\\x82", "a cut UTF-8 sequence")
    }
}
