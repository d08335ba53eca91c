// One TOC entry as a format-2 (3 or 4) record: prefix-compressed path, varint fields, raw sha256, delta-coded members.

/// Encodes and decodes the records of one block (docs/STORAGE_FORMAT.md, "The TOC, format 2"
/// and "Format 3").
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
    // Format 3 (docs/STORAGE_FORMAT.md, "Format 3"): records a format-2 TOC must not hold.
    private static let hardLinkType: UInt8 = 3
    private static let fifoType: UInt8 = 4
    private static let characterDeviceType: UInt8 = 5
    private static let blockDeviceType: UInt8 = 6
    /// A file with more than one name: type 0's fields, then `links`.
    private static let linkedFileType: UInt8 = 7
    private static let format3Types: ClosedRange<UInt8> = 3...7
    /// Format 4: set on the type byte of a record whose entry has extended attributes, which
    /// follow the type's fields (before the members) as a count and (name, value) pairs.
    private static let xattrsFlag: UInt8 = 0x80

    private static func typeByte(of entry: ArchiveTOC.Entry) -> UInt8 {
        switch entry.type {
        case .file: entry.links == nil ? fileType : linkedFileType
        case .directory: directoryType
        case .symlink: symlinkType
        case .hardLink: hardLinkType
        case .fifo: fifoType
        case .characterDevice: characterDeviceType
        case .blockDevice: blockDeviceType
        }
    }

    private static func typeName(_ type: UInt8) -> String {
        switch type {
        case hardLinkType: "hard link"
        case fifoType: "fifo"
        case characterDeviceType: "character device"
        case blockDeviceType: "block device"
        case linkedFileType: "file with several names"
        default: "type \(type)"
        }
    }

    /// Appends `entry` (whose path bytes are `path`) to `out`. Throws ``ArchiveError/invalidEntry(path:reason:)``
    /// for what a record cannot hold; the other rules are ``ArchiveTOC/validate(_:archiveSize:)``'s.
    /// Only an entry whose ``ArchiveTOC/Entry/needsFormat3`` is true gets a record of type 3–7 (or
    /// holds a name that is not UTF-8).
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
        if entry.type == .symlink || entry.type == .hardLink {
            guard entry.linkTargetBytes != nil else { throw reject("a \(entry.type.rawValue) needs a link target") }
        } else {
            guard entry.linkTargetBytes == nil else { throw reject("only a symlink or a hard link has a link target") }
        }
        guard entry.type.isDevice == (entry.device != nil) else {
            throw reject(entry.type.isDevice ? "a device needs a device number" : "only a device has a device number")
        }
        if let links = entry.links {
            guard entry.type == .file else { throw reject("only a file has links") }
            guard links >= 2 else { throw reject("links \(links) is stored only when 2 or more") }
        }

        let previous = context.previousPath
        var shared = 0
        while shared < previous.count && shared < path.count && previous[shared] == path[shared] { shared += 1 }
        VarInt.append(UInt64(shared), to: &out)
        VarInt.append(UInt64(path.count - shared), to: &out)
        out.append(contentsOf: path[shared...])
        out.append(typeByte(of: entry) | (entry.xattrs.isEmpty ? 0 : xattrsFlag))
        VarInt.append(UInt64(entry.mode & 0o7777), to: &out)
        VarInt.append(VarInt.zigzag(entry.mtime.seconds), to: &out)
        VarInt.append(UInt64(UInt32(bitPattern: entry.mtime.nanoseconds)), to: &out)
        if entry.type == .file {
            VarInt.append(entry.size, to: &out)
            out.append(contentsOf: shaBytes)
            if let links = entry.links { VarInt.append(UInt64(links), to: &out) }
        }
        if entry.type == .symlink || entry.type == .hardLink, let target = entry.linkTargetBytes {
            VarInt.append(UInt64(target.count), to: &out)
            out.append(contentsOf: target)
        }
        if let device = entry.device {
            VarInt.append(UInt64(device.major), to: &out)
            VarInt.append(UInt64(device.minor), to: &out)
        }
        if !entry.xattrs.isEmpty {
            VarInt.append(UInt64(entry.xattrs.count), to: &out)
            for xattr in entry.xattrs {
                VarInt.append(UInt64(xattr.name.count), to: &out)
                out.append(contentsOf: xattr.name)
                VarInt.append(UInt64(xattr.value.count), to: &out)
                out.append(contentsOf: xattr.value)
            }
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

    /// Reads the next record of a TOC of `formatVersion`; returns the entry and its path bytes.
    /// Only the record's own shape is checked here (type byte and the version allowing it, lengths,
    /// names, nanoseconds, mode bits, device numbers); the caller validates the entry.
    static func decode(
        _ cursor: inout ByteCursor,
        context: inout BlockContext,
        formatVersion: Int
    ) throws(ArchiveError) -> (entry: ArchiveTOC.Entry, path: [UInt8]) {
        let sharedValue = try cursor.varint()
        guard sharedValue <= UInt64(context.previousPath.count) else {
            throw cursor.failure("shares \(sharedValue) path bytes with a path of \(context.previousPath.count)")
        }
        let suffixLength = try cursor.count()
        var path = Array(context.previousPath.prefix(Int(sharedValue)))
        path.append(contentsOf: try cursor.bytes(suffixLength))
        guard !path.isEmpty else { throw cursor.failure("empty path") }
        let pathString = NameBytes.text(path)
        try checkName(path, isPath: true, formatVersion: formatVersion, cursor: cursor, what: "path '\(pathString)'")

        let flaggedTypeByte = try cursor.byte()
        let hasXattrs = flaggedTypeByte & xattrsFlag != 0
        if hasXattrs, formatVersion < ArchiveTOC.xattrsFormatVersion {
            throw cursor.failure(
                "'\(pathString)' has extended attributes, which a format-\(formatVersion) TOC cannot hold (format 4 can)")
        }
        let typeByte = flaggedTypeByte & ~xattrsFlag
        let type: ArchiveEntry.Kind
        switch typeByte {
        case fileType, linkedFileType: type = .file
        case directoryType: type = .directory
        case symlinkType: type = .symlink
        case hardLinkType: type = .hardLink
        case fifoType: type = .fifo
        case characterDeviceType: type = .characterDevice
        case blockDeviceType: type = .blockDevice
        case let other: throw cursor.failure("unknown entry type \(other) for '\(pathString)'")
        }
        if format3Types.contains(typeByte), formatVersion < ArchiveTOC.linksDevicesAndByteNamesFormatVersion {
            throw cursor.failure(
                "'\(pathString)' is a \(typeName(typeByte)) (type \(typeByte)), which a format-\(formatVersion) TOC cannot hold")
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
        var linkTarget: [UInt8]?
        var links: UInt32?
        var device: ArchiveDevice?
        func uint32(_ what: String) throws(ArchiveError) -> UInt32 {
            let value = try cursor.varint()
            guard let narrow = UInt32(exactly: value) else {
                throw cursor.failure("\(what) \(value) of '\(pathString)' does not fit 32 bits")
            }
            return narrow
        }
        switch type {
        case .file:
            size = try cursor.varint()
            sha256 = Hex.string(try cursor.bytes(32))
            if typeByte == linkedFileType { links = try uint32("links") }
        case .symlink, .hardLink:
            let length = try cursor.count()
            let target = Array(try cursor.bytes(length))
            try checkName(
                target, isPath: false, formatVersion: formatVersion, cursor: cursor, what: "link target of '\(pathString)'")
            linkTarget = target
        case .characterDevice, .blockDevice:
            device = ArchiveDevice(major: try uint32("device major"), minor: try uint32("device minor"))
        case .directory, .fifo:
            break
        }
        var xattrs: [ArchiveXattr] = []
        if hasXattrs {
            let count = try cursor.count(minimumSize: 2)
            for _ in 0..<count {
                let name = Array(try cursor.bytes(try cursor.count()))
                let value = Array(try cursor.bytes(try cursor.count()))
                xattrs.append(ArchiveXattr(name: name, value: value))
            }
            guard !xattrs.isEmpty else { throw cursor.failure("'\(pathString)' is flagged with extended attributes but lists none") }
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
            pathBytes: path,
            type: type,
            mode: UInt32(mode),
            size: size,
            mtime: ArchiveTimestamp(seconds: seconds, nanoseconds: Int32(nanoseconds)),
            linkTargetBytes: linkTarget,
            sha256: sha256,
            members: members,
            device: device,
            links: links,
            xattrs: xattrs
        )
        return (entry, path)
    }

    /// Format 2 holds UTF-8 names only. Format 3 holds any bytes: a path without NUL and without
    /// empty, `.` or `..` components, a link target without NUL.
    private static func checkName(
        _ bytes: [UInt8], isPath: Bool, formatVersion: Int, cursor: ByteCursor, what: String
    ) throws(ArchiveError) {
        guard formatVersion >= ArchiveTOC.linksDevicesAndByteNamesFormatVersion else {
            guard NameBytes.isUTF8(bytes) else {
                throw cursor.failure(
                    "\(what) is not valid UTF-8, which a format-\(formatVersion) TOC cannot hold (format 3 can)")
            }
            return
        }
        if isPath {
            if let problem = NameBytes.pathProblem(bytes) { throw cursor.failure("\(what): \(problem)") }
        } else {
            guard !bytes.contains(0) else { throw cursor.failure("\(what) contains a NUL byte") }
        }
    }
}
