// A directory's children as a listing first needs them: name, inode number and type, nothing
// else. Plain READDIR passes only those to the kernel, and `find` of a cold million-file tree
// is mostly plain READDIR: decoding whole nodes for it was most of the daemon's time.
import Foundation
import GRDB

struct ListedChild: Sendable {
    let id: Int64
    let name: [UInt8]
    let role: NodeRole
    /// A `hardLink` row's file.
    let inodeID: Int64?
    /// The type `find` and `ls` see; a hard link's is its file's, which the namespace sets.
    var kind: FileKind

    /// The inode number `stat` shows for the name: a hard link's is its file's.
    var ino: InodeNumber { InodeNumber(role == .hardLink ? inodeID ?? id : id) }
}

extension Node {
    /// The children of `parent` in name order, without their attributes.
    static func listedChildren(_ db: Database, parent: Int64) throws -> [ListedChild] {
        let statement = try db.cachedStatement(
            sql: "SELECT id, name, role, inode_id FROM node WHERE parent_id = ? ORDER BY name")
        var children: [ListedChild] = []
        try RawRow.forEach(statement, [parent]) { row in
            let role = try row.role(2)
            children.append(
                ListedChild(id: row.int64(0), name: Array(row.bytes(1)), role: role, inodeID: row.optionalInt64(3), kind: role.kind))
        }
        return children
    }

    /// The children of `parent` named from `first` through `last` (byte order), whole and by id:
    /// the attributes of a READDIRPLUS reply's entries, read in one statement.
    static func childrenByID(_ db: Database, parent: Int64, from first: [UInt8], through last: [UInt8]) throws -> [Int64: Node] {
        let statement = try db.cachedStatement(
            sql: "SELECT \(selection) FROM node WHERE parent_id = ? AND name >= ? AND name <= ?")
        var children: [Int64: Node] = [:]
        try RawRow.forEach(statement, [parent, Data(first), Data(last)]) { children[$0.int64(0)] = try Node($0) }
        return children
    }
}
