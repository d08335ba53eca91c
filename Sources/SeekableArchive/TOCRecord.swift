// One TOC entry as a format-2 record: prefix-compressed path, varint fields, raw sha256, delta-coded members.

/// Encodes and decodes the records of one block (docs/STORAGE_FORMAT.md, "The TOC, format 2").
///
/// Records depend on the previous record of the same block only (shared path prefix, member
/// offset delta), so each block decodes on its own: ``BlockContext`` starts empty per block.
enum TOCRecord {
    /// What a record is encoded against: the previous record of the block.
    struct BlockContext {
        var previousPath: [UInt8] = []
        var previousMemberOffset: UInt64 = 0
    }

    private static let fileType: UInt8 = 0
    private static let directoryType: UInt8 = 1
    private static let symlinkType: UInt8 = 2

    /// Appends `entry` (whose path bytes are `path`) to `out`. Throws ``ArchiveError/invalidEntry(path:reason:)``
    /// for what a record cannot hold; the other rules are ``ArchiveTOC/validate(_:archiveSize:)``'s.
    static func encode(
        _ entry: ArchiveTOC.Entry,
        path: [UInt8],
        context: inout BlockContext,
        into out: inout [UInt8]
    ) throws(ArchiveError) {
        func reject(_ reason: String) -> ArchiveError { .invalidEntry(path: entry.path, reason: reason) }
        guard !path.isEmpty else { throw reject("the path is empty") }
        var shaBytes: [UInt8] = []
        if entry.type == .file {
            guard let sha = entry.sha256, let bytes = Hex.bytes(sha), bytes.count == 32 else {
                throw reject("a file needs a sha256 of 64 lowercase hex digits")
            }
            shaBytes = bytes
        } else {
            guard entry.size == 0 else { throw reject("a \(entry.type.rawValue) has no size to store") }
            guard entry.sha256 == nil else { throw reject("a \(entry.type.rawValue) has no sha256 to store") }
        }
        if entry.type == .symlink {
            guard entry.linkTarget != nil else { throw reject("a symlink needs a link target") }
        } else {
            guard entry.linkTarget == nil else { throw reject("only a symlink has a link target") }
        }

        let previous = context.previousPath
        var shared = 0
        while shared < previous.count && shared < path.count && previous[shared] == path[shared] { shared += 1 }
        VarInt.append(UInt64(shared), to: &out)
        VarInt.append(UInt64(path.count - shared), to: &out)
        out.append(contentsOf: path[shared...])
        switch entry.type {
        case .file: out.append(fileType)
        case .directory: out.append(directoryType)
        case .symlink: out.append(symlinkType)
        }
        VarInt.append(UInt64(entry.mode & 0o7777), to: &out)
        VarInt.append(VarInt.zigzag(entry.mtime.seconds), to: &out)
        VarInt.append(UInt64(UInt32(bitPattern: entry.mtime.nanoseconds)), to: &out)
        if entry.type == .file {
            VarInt.append(entry.size, to: &out)
            out.append(contentsOf: shaBytes)
        }
        if entry.type == .symlink, let target = entry.linkTarget {
            VarInt.append(UInt64(target.utf8.count), to: &out)
            out.append(contentsOf: target.utf8)
        }
        VarInt.append(UInt64(entry.members.count), to: &out)
        for member in entry.members {
            // Wrapping difference as a signed delta: exact for any two offsets, small for neighbours.
            VarInt.append(VarInt.zigzag(Int64(bitPattern: member.offset &- context.previousMemberOffset)), to: &out)
            VarInt.append(member.length, to: &out)
            VarInt.append(member.dataLength, to: &out)
            VarInt.append(member.dataStart, to: &out)
            context.previousMemberOffset = member.offset
        }
        context.previousPath = path
    }

    /// Reads the next record; returns the entry and its path bytes. Only the record's own shape is
    /// checked here (type byte, lengths, UTF-8, nanoseconds, mode bits); the caller validates the entry.
    static func decode(
        _ cursor: inout ByteCursor,
        context: inout BlockContext
    ) throws(ArchiveError) -> (entry: ArchiveTOC.Entry, path: [UInt8]) {
        let sharedValue = try cursor.varint()
        guard sharedValue <= UInt64(context.previousPath.count) else {
            throw cursor.failure("shares \(sharedValue) path bytes with a path of \(context.previousPath.count)")
        }
        let suffixLength = try cursor.count()
        var path = Array(context.previousPath.prefix(Int(sharedValue)))
        path.append(contentsOf: try cursor.bytes(suffixLength))
        guard !path.isEmpty else { throw cursor.failure("empty path") }
        let pathString = try string(path, cursor: cursor, what: "path")

        let type: ArchiveEntry.Kind
        switch try cursor.byte() {
        case fileType: type = .file
        case directoryType: type = .directory
        case symlinkType: type = .symlink
        case let other: throw cursor.failure("unknown entry type \(other) for '\(pathString)'")
        }
        let mode = try cursor.varint()
        guard mode <= 0o7777 else { throw cursor.failure("mode \(mode) of '\(pathString)' has bits above 0o7777") }
        let seconds = VarInt.unzigzag(try cursor.varint())
        let nanoseconds = try cursor.varint()
        guard nanoseconds < 1_000_000_000 else {
            throw cursor.failure("mtime nanoseconds \(nanoseconds) of '\(pathString)' are not below 1e9")
        }

        var size: UInt64 = 0
        var sha256: String?
        var linkTarget: String?
        if type == .file {
            size = try cursor.varint()
            sha256 = Hex.string(try cursor.bytes(32))
        } else if type == .symlink {
            let length = try cursor.count()
            linkTarget = try string(try cursor.bytes(length), cursor: cursor, what: "link target of '\(pathString)'")
        }

        let memberCount = try cursor.count(minimumSize: 4)
        var members: [ArchiveTOC.Member] = []
        members.reserveCapacity(memberCount)
        var dataOffset: UInt64 = 0
        for _ in 0..<memberCount {
            let offset = context.previousMemberOffset &+ UInt64(bitPattern: VarInt.unzigzag(try cursor.varint()))
            let length = try cursor.varint()
            let dataLength = try cursor.varint()
            let dataStart = try cursor.varint()
            members.append(
                ArchiveTOC.Member(
                    offset: offset, length: length, dataOffset: dataOffset, dataLength: dataLength, dataStart: dataStart
                )
            )
            let (next, overflow) = dataOffset.addingReportingOverflow(dataLength)
            guard !overflow else { throw cursor.failure("members of '\(pathString)' hold more than 2^64 bytes") }
            dataOffset = next
            context.previousMemberOffset = offset
        }
        context.previousPath = path
        let entry = ArchiveTOC.Entry(
            path: pathString,
            type: type,
            mode: UInt32(mode),
            size: size,
            mtime: ArchiveTimestamp(seconds: seconds, nanoseconds: Int32(nanoseconds)),
            linkTarget: linkTarget,
            sha256: sha256,
            members: members
        )
        return (entry, path)
    }

    /// Valid UTF-8 only: a String would silently replace bad bytes, and the entry would change.
    private static func string(
        _ bytes: some Collection<UInt8>,
        cursor: ByteCursor,
        what: String
    ) throws(ArchiveError) -> String {
        let text = String(decoding: bytes, as: UTF8.self)
        guard text.utf8.elementsEqual(bytes) else { throw cursor.failure("\(what) is not valid UTF-8") }
        return text
    }
}
