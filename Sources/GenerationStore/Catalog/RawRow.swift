// Rows read with SQLite's own column calls, for the loops that read a row per directory entry
// (listings): through GRDB's `Row` each column went through a type check and a conversion, and a
// `Data` per blob, which cost the daemon more than SQLite spent finding the rows.
import Foundation
import GRDB
internal import GRDBSQLite

/// The current row of a statement being stepped; valid until it steps again.
struct RawRow {
    private let statement: OpaquePointer

    /// Runs `statement` with `arguments` and hands each row to `body`.
    static func forEach(_ statement: Statement, _ arguments: StatementArguments, _ body: (RawRow) throws -> Void) throws {
        let rows = try Row.fetchCursor(statement, arguments: arguments)
        let row = RawRow(statement: statement.sqliteStatement)
        while try rows.next() != nil { try body(row) }
    }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }

    func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }

    /// The column's bytes (a blob's, or a text's UTF-8), valid until the statement steps again.
    func bytes(_ column: Int32) -> UnsafeRawBufferPointer {
        guard let start = sqlite3_column_blob(statement, column) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: start, count: Int(sqlite3_column_bytes(statement, column)))
    }

    func data(_ column: Int32) -> Data? { isNull(column) ? nil : Data(bytes(column)) }

    func role(_ column: Int32) throws(FSError) -> NodeRole {
        guard let role = NodeRole(utf8: bytes(column)) else {
            throw FSError(.ioError, "catalog: unknown node role \(String(decoding: bytes(column), as: UTF8.self))")
        }
        return role
    }
}

extension Node {
    /// The node in `row`, which selects `Node.selection`.
    init(_ row: RawRow) throws(FSError) {
        self.init(
            id: row.int64(0), parentID: row.optionalInt64(1), name: row.data(2), role: try row.role(3),
            mode: UInt32(truncatingIfNeeded: row.int64(4)), uid: UInt32(truncatingIfNeeded: row.int64(5)),
            gid: UInt32(truncatingIfNeeded: row.int64(6)), size: row.int64(7),
            atimeNs: row.int64(8), mtimeNs: row.int64(9), ctimeNs: row.int64(10), linkTarget: row.data(11),
            versionID: row.optionalInt64(12), archivePath: row.data(13), links: UInt32(truncatingIfNeeded: row.int64(14)),
            rdev: UInt64(bitPattern: row.int64(15)), inodeID: row.optionalInt64(16))
    }
}
