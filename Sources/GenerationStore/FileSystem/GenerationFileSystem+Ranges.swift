// fallocate, SEEK_DATA / SEEK_HOLE and copy_file_range on open files: done on the blob files
// by the kernel (BlobRanges), with the same rules as writes (writable handle, open version, room
// on the disk) and the same bookkeeping (the new end and time go to open files).
import Foundation
import SystemPackage

extension GenerationFileSystem {
    /// fallocate(2) on a file open for writing. Mode 0 may grow the file; KEEP_SIZE reserves
    /// blocks only; PUNCH_HOLE|KEEP_SIZE frees a range, which then reads as zeros; ZERO_RANGE
    /// zeroes one. Other modes: EOPNOTSUPP.
    public func fallocate(handle: UInt64, mode: FileAllocation, offset: Int64, length: Int64) throws(FSError) {
        guard FileAllocation.supported.isSuperset(of: mode) else {
            throw FSError(.notSupported, "fallocate \(mode) is not supported")
        }
        guard offset >= 0, length > 0 else { throw FSError.invalid("fallocate needs offset >= 0 and length > 0") }
        let blob = try openFiles.writableBlob(handle)
        if !mode.contains(.punchHole), !blobs.hasRoom(for: Int(clamping: length)) {
            throw FSError(.noSpace, "the disk holding the data directory cannot hold \(length) more bytes")
        }
        try BlobRanges.allocate(blob.descriptor, mode: mode, offset: offset, length: length)
        // The content or the size changed (a reservation alone changes neither, and is not recorded).
        guard mode != .keepSize else { return }
        openFiles.recordWrite(blob, end: mode.contains(.keepSize) ? 0 : offset + length, at: .now())
    }

    /// lseek(2) with SEEK_DATA or SEEK_HOLE on an open file: the next offset holding data (or
    /// the next hole, the end of the file counting as one); ENXIO at or past the end.
    public func seek(handle: UInt64, from offset: Int64, to target: SeekTarget) throws(FSError) -> Int64 {
        switch try openFiles.file(handle) {
        case .computed(let content):
            guard offset >= 0, offset < content.count else { throw FSError(Errno(rawValue: ENXIO), "seeking past the end") }
            return target == .data ? offset : Int64(content.count)
        case .blob(let blob):
            return try BlobRanges.seek(blob.descriptor, from: offset, to: target)
        }
    }

    /// copy_file_range(2) from one open file to another open for writing, between their blobs
    /// in the kernel: no byte passes through this process. Returns the bytes copied (fewer at
    /// the source's end). From a virtual file, EOPNOTSUPP: FUSE then copies through read and write.
    public func copyFileRange(
        from source: UInt64, at sourceOffset: Int64, to target: UInt64, at targetOffset: Int64, length: Int
    ) throws(FSError) -> Int {
        guard sourceOffset >= 0, targetOffset >= 0 else { throw FSError.invalid("copy_file_range needs offsets >= 0") }
        let output = try openFiles.writableBlob(target)
        guard case .blob(let input) = try openFiles.file(source) else {
            throw FSError(.notSupported, "copy_file_range from a virtual file")
        }
        guard blobs.hasRoom(for: length) else {
            throw FSError(.noSpace, "the disk holding the data directory cannot hold \(length) more bytes")
        }
        let copied = try BlobRanges.copy(from: input.descriptor, at: sourceOffset, to: output.descriptor, at: targetOffset, length: length)
        if copied > 0 { openFiles.recordWrite(output, end: targetOffset + Int64(copied), at: .now()) }
        return copied
    }
}
