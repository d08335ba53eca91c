// The catalog schema, as named forward-only migrations. SQLite enforces the invariants:
// one name per directory, one generation id per mount, one version number per generation.
import GRDB

enum CatalogMigrations {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-nodes-versions-xattrs") { db in
            let roles = NodeRole.allCases.map { "'\($0.rawValue)'" }.joined(separator: ",")
            try db.execute(
                sql: """
                    CREATE TABLE node (
                        id INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: the kernel may still hold a deleted inode number
                        parent_id INTEGER REFERENCES node(id),
                        name BLOB,
                        role TEXT NOT NULL CHECK (role IN (\(roles))),
                        mode INTEGER NOT NULL,
                        uid INTEGER NOT NULL,
                        gid INTEGER NOT NULL,
                        size INTEGER NOT NULL DEFAULT 0 CHECK (size >= 0),
                        atime_ns INTEGER NOT NULL,
                        mtime_ns INTEGER NOT NULL,
                        ctime_ns INTEGER NOT NULL,
                        link_target BLOB,
                        version_id INTEGER REFERENCES node(id),
                        CHECK ((parent_id IS NULL) = (name IS NULL)),
                        CHECK ((role = 'symlink') = (link_target IS NOT NULL))
                    );
                    CREATE UNIQUE INDEX node_parent_name ON node(parent_id, name);
                    CREATE INDEX node_version ON node(version_id);
                    CREATE UNIQUE INDEX node_generation_id ON node(name) WHERE role = 'generation';

                    CREATE TABLE version (
                        node_id INTEGER PRIMARY KEY REFERENCES node(id),
                        generation_node_id INTEGER NOT NULL REFERENCES node(id),
                        number INTEGER NOT NULL CHECK (number >= 1),
                        sealed INTEGER NOT NULL DEFAULT 0 CHECK (sealed IN (0, 1)),
                        created_at_ns INTEGER NOT NULL,
                        updated_at_ns INTEGER NOT NULL,
                        UNIQUE (generation_node_id, number)
                    );

                    CREATE TABLE xattr (
                        node_id INTEGER NOT NULL REFERENCES node(id) ON DELETE CASCADE,
                        name BLOB NOT NULL,
                        value BLOB NOT NULL,
                        PRIMARY KEY (node_id, name)
                    );
                    """)
        }
        migrator.registerMigration("v2-version-snapshots") { db in
            // dirty: changed since the last snapshot (a new version starts dirty).
            try db.execute(
                sql: """
                    ALTER TABLE version ADD COLUMN dirty INTEGER NOT NULL DEFAULT 1 CHECK (dirty IN (0, 1));
                    ALTER TABLE version ADD COLUMN archive_size INTEGER;
                    ALTER TABLE version ADD COLUMN snapshotted_at_ns INTEGER;
                    """)
        }
        migrator.registerMigration("v3-upload-jobs") { db in
            try db.execute(
                sql: """
                    CREATE TABLE upload_job (
                        version_node_id INTEGER PRIMARY KEY REFERENCES version(node_id),
                        state TEXT NOT NULL CHECK (state IN ('pending', 'uploading', 'uploaded', 'failed', 'conflict')),
                        attempts INTEGER NOT NULL DEFAULT 0,
                        bytes_uploaded INTEGER NOT NULL DEFAULT 0,
                        bytes_total INTEGER NOT NULL DEFAULT 0,
                        last_error TEXT,
                        enqueued_at_ns INTEGER NOT NULL,
                        next_attempt_at_ns INTEGER NOT NULL,
                        uploaded_at_ns INTEGER,
                        -- the snapshot (version.snapshotted_at_ns) this job uploads or uploaded
                        snapshot_ns INTEGER NOT NULL,
                        -- 1 once this mount's TOC is in the bucket: later snapshots replace it (upsert)
                        published INTEGER NOT NULL DEFAULT 0 CHECK (published IN (0, 1))
                    );
                    CREATE INDEX upload_job_due ON upload_job(state, next_attempt_at_ns, enqueued_at_ns);
                    """)
        }
        migrator.registerMigration("v4-remote-content") { db in
            // archive_path: set when a file's content is not on local disk but in the version's
            // uploaded archive, at that path of its TOC (cleaned up, or found in the bucket).
            // origin: 'remote' for versions another mount made, found by listing the bucket.
            // local_copy: 1 while every file of the version has a local blob (until clean-up).
            try db.execute(
                sql: """
                    ALTER TABLE node ADD COLUMN archive_path BLOB;
                    ALTER TABLE version ADD COLUMN origin TEXT NOT NULL DEFAULT 'local' CHECK (origin IN ('local', 'remote'));
                    ALTER TABLE version ADD COLUMN local_copy INTEGER NOT NULL DEFAULT 1 CHECK (local_copy IN (0, 1));
                    """)
        }
        migrator.registerMigration("v5-create-journal") { db in
            // The last batch of creates committed (Catalog.writeBatched): entries of the create
            // journal with this batch number or a lower one are in the catalog already.
            try db.execute(
                sql: """
                    CREATE TABLE journal_state (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        committed_batch INTEGER NOT NULL
                    );
                    INSERT INTO journal_state (id, committed_batch) VALUES (1, 0);
                    """)
        }
        migrator.registerMigration("v6-unlisted-directories") { db in
            // Directories of versions found in the bucket whose children are not in the catalog
            // yet: they are added from the version's TOC when looked up or listed (Namespace+RemoteTree).
            // toc_path: the directory's path in the TOC ('' for the version directory itself).
            try db.execute(
                sql: """
                    CREATE TABLE unlisted_directory (
                        node_id INTEGER PRIMARY KEY REFERENCES node(id) ON DELETE CASCADE,
                        toc_path BLOB NOT NULL
                    );
                    """)
        }
        migrator.registerMigration("v7-links-and-special-files") { db in
            try rewriteRoleCheck(db, to: "role IN (\(NodeRole.allCases.map { "'\($0.rawValue)'" }.joined(separator: ",")))")
            // nlink: see Node.links. Existing directories get their count (2 + subdirectories),
            // except those of bucket versions not listed yet; nameless rows were orphans.
            try db.execute(
                sql: """
                    ALTER TABLE node ADD COLUMN nlink INTEGER NOT NULL DEFAULT 1 CHECK (nlink >= 0);
                    ALTER TABLE node ADD COLUMN rdev INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE node ADD COLUMN inode_id INTEGER REFERENCES node(id);
                    CREATE INDEX node_inode ON node(inode_id) WHERE inode_id IS NOT NULL;
                    UPDATE node SET nlink = 0 WHERE parent_id IS NULL AND role != 'root';
                    UPDATE node SET nlink = 2 + (SELECT COUNT(*) FROM node AS child WHERE child.parent_id = node.id AND child.role = 'dir')
                        WHERE role IN ('dir', 'version') AND parent_id IS NOT NULL
                        AND id NOT IN (SELECT node_id FROM unlisted_directory);
                    """)
        }
        migrator.registerMigration("v8-resumable-uploads") { db in
            // resumable_url: the TUS upload of the archive of snapshot resumable_snapshot_ns still
            // being sent; a restart continues it from the server's offset instead of byte 0.
            try db.execute(
                sql: """
                    ALTER TABLE upload_job ADD COLUMN resumable_url TEXT;
                    ALTER TABLE upload_job ADD COLUMN resumable_snapshot_ns INTEGER;
                    """)
        }
        migrator.registerMigration("v9-changed-since") { db in
            // Incremental snapshots find the nodes changed since the last one (ChangedTree) by
            // version and ctime; the index serves `version_id = ?` alone as the old one did.
            try db.execute(
                sql: """
                    CREATE INDEX node_version_ctime ON node(version_id, ctime_ns);
                    DROP INDEX node_version;
                    """)
        }
        migrator.registerMigration("v10-role-check-without-in-list") { db in
            // v7 left `role IN (<14 constants>)`: SQLite checks such a list by building a temporary
            // b-tree of it each time a statement runs, so every create paid for one (about a third
            // of its insert). `roleCheck` is a chain of comparisons.
            try rewriteRoleCheck(db, to: roleCheck)
        }
        return migrator
    }

    /// True exactly for the current roles, without an IN list (see v10). A new role needs a
    /// migration that calls `rewriteRoleCheck(db, to: roleCheck)` again.
    private static var roleCheck: String {
        "CASE role " + NodeRole.allCases.map { "WHEN '\($0.rawValue)' THEN 1" }.joined(separator: " ") + " ELSE 0 END"
    }

    /// Replaces the condition of `node.role`'s CHECK constraint with `condition`. The schema text is
    /// rewritten in place, as SQLite documents for constraint changes that no stored row can violate
    /// (every stored role still passes), instead of copying a table of a million rows.
    private static func rewriteRoleCheck(_ db: Database, to condition: String) throws {
        let clause = "role TEXT NOT NULL CHECK ("
        guard var sql = try String.fetchOne(db, sql: "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'node'"),
            let start = sql.range(of: clause)?.upperBound, let end = closingParenthesis(in: sql, from: start)
        else { throw DatabaseError(message: "catalog: the node table's role constraint is not where it should be") }
        sql.replaceSubrange(start..<end, with: condition)
        let schemaVersion = try Int.fetchOne(db, sql: "PRAGMA schema_version") ?? 0
        try db.execute(sql: "PRAGMA writable_schema = ON")
        try db.execute(sql: "UPDATE sqlite_schema SET sql = ? WHERE type = 'table' AND name = 'node'", arguments: [sql])
        try db.execute(sql: "PRAGMA schema_version = \(schemaVersion + 1)")
        try db.execute(sql: "PRAGMA writable_schema = OFF")
    }

    /// The index of the parenthesis that closes the one opened just before `start`.
    private static func closingParenthesis(in sql: String, from start: String.Index) -> String.Index? {
        var depth = 1
        var index = start
        while index < sql.endIndex {
            switch sql[index] {
            case "(": depth += 1
            case ")":
                depth -= 1
                if depth == 0 { return index }
            default: break
            }
            index = sql.index(after: index)
        }
        return nil
    }
}
