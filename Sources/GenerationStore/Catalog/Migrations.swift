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
        return migrator
    }
}
