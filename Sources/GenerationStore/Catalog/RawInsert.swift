// The insert every create runs, bound and stepped with SQLite's own calls: through GRDB's
// `StatementArguments` each of its 16 values was boxed, type-checked and converted, a quarter of a
// create's catalog time.
import Foundation
import GRDB
internal import GRDBSQLite

/// Binds the parameters of a statement in order, from the first.
struct RawBindings {
    fileprivate let statement: OpaquePointer
    private var index: Int32 = 0

    fileprivate init(statement: OpaquePointer) { self.statement = statement }

    mutating func bind(_ value: Int64?) {
        index += 1
        if let value { sqlite3_bind_int64(statement, index, value) } else { sqlite3_bind_null(statement, index) }
    }

    mutating func bind(_ value: UInt32) { bind(Int64(value)) }

    mutating func bind(_ text: String) {
        index += 1
        sqlite3_bind_text(statement, index, text, -1, Self.transient)
    }

    mutating func bind(_ bytes: Data?) {
        index += 1
        guard let bytes else { return _ = sqlite3_bind_null(statement, index) }
        // An empty buffer may have no base address, which SQLite would bind as NULL.
        if bytes.isEmpty { return _ = sqlite3_bind_zeroblob(statement, index, 0) }
        bytes.withUnsafeBytes { _ = sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), Self.transient) }
    }

    /// SQLite copies the value before the call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}

extension Statement {
    /// Runs this statement (one that returns no rows) with the parameters `bind` sets. Errors are
    /// GRDB's `DatabaseError`, with SQLite's extended result code, as `execute(arguments:)` gives.
    func executeRaw(_ db: Database, _ bind: (inout RawBindings) -> Void) throws {
        let handle = sqliteStatement
        sqlite3_reset(handle)
        var bindings = RawBindings(statement: handle)
        bind(&bindings)
        let code = sqlite3_step(handle)
        guard code == SQLITE_DONE else {
            let message = db.sqliteConnection.map { String(cString: sqlite3_errmsg($0)) }
            let extended = db.sqliteConnection.map { sqlite3_extended_errcode($0) } ?? code
            sqlite3_reset(handle)
            throw DatabaseError(resultCode: ResultCode(rawValue: extended), message: message, sql: sql)
        }
        sqlite3_reset(handle)
    }
}
