// Placeholder until the SeekableArchive target lands.
