// Streams a format-2 TOC into a file: entries in archive path order, then the summary.
import SystemPackage

/// Streams a format-2 TOC into a file (constant memory: one block and the block index).
///
/// ```swift
/// let writer = try TOCFileWriter(output: tocPath)
/// for entry in entries { try writer.append(entry) }   // strictly increasing in ArchivePathOrder
/// try writer.finish(summary)                          // footer, trailer, fsync, close
/// ```
///
/// Not thread-safe. An entry it rejects (out of order, duplicate, or breaking
/// ``ArchiveTOC/validate(_:archiveSize:)``) throws ``ArchiveError/invalidEntry(path:reason:)``
/// and writes nothing; an I/O error leaves the file incomplete and later calls throw
/// ``ArchiveError/writerUnusable(reason:)``. Layout: docs/STORAGE_FORMAT.md.
public final class TOCFileWriter: TOCEntrySink {
    /// Uncompressed bytes after which a block ends (it ends after the record that reaches this size).
    public static let blockSize = 64 << 10

    private let descriptor: FileDescriptor
    private let pathForErrors: String
    private var descriptorOpen = true
    private let encoder: TOCStreamEncoder

    /// Creates (or truncates) `output`, mode 0644.
    public init(output: FilePath) throws(ArchiveError) {
        let descriptor = try FileIO.open(output, .writeOnly, options: [.create, .truncate])
        let pathForErrors = output.string
        do {
            // Each call gets a deflate buffer's worth of a finished block: no buffering needed.
            encoder = try TOCStreamEncoder { bytes throws(ArchiveError) in
                try FileIO.writeAll(descriptor, bytes, path: pathForErrors)
            }
        } catch {
            try? descriptor.close()
            throw error
        }
        self.descriptor = descriptor
        self.pathForErrors = pathForErrors
    }

    deinit {
        if descriptorOpen { try? descriptor.close() }
    }

    public func append(_ entry: ArchiveTOC.Entry) throws(ArchiveError) {
        try encoder.append(entry)
    }

    public func appendCopied(_ blocks: [CopiedTOCBlock], shift: Int64, formatVersion: Int) throws(ArchiveError) {
        try encoder.appendCopied(blocks, shift: shift, formatVersion: formatVersion)
    }

    /// Writes the last block, the footer (summary.entryCount is overwritten with the real count,
    /// formatVersion with 3 if an entry needed format 3, else 2) and the trailer; fsyncs and
    /// closes. Returns the file's size.
    @discardableResult
    public func finish(_ summary: TOCSummary) throws(ArchiveError) -> UInt64 {
        let size = try encoder.finish(summary)
        try FileIO.fsync(descriptor, path: pathForErrors)
        descriptorOpen = false
        try FileIO.close(descriptor, path: pathForErrors)
        return size
    }
}
