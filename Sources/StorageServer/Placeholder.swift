// Placeholder until the StorageServer target lands.
