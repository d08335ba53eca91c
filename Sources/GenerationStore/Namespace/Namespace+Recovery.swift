// File sizes at mount after a run that did not stop cleanly. close(2) does not wait for the daemon
// (the FUSE adapter leaves FLUSH unimplemented) and a file's last size is only saved with the next
// commit, snapshot, fsync or status read, so a kill -9 can leave the catalog with an older size.
// The blob has the content (written in place before each write is answered): its length is the
// file's. A clean unmount saves every size and leaves a mark (DataDirectory.markCleanStop) that
// spares the next mount this scan.
import Foundation
import GRDB

extension Namespace {
    /// Gives every file with a local blob the blob's size (and its mtime, if later), and marks
    /// the versions whose files changed for a new snapshot. One stat per local file.
    func recoverSizesFromBlobs() throws {
        var checked = 0
        var fixed: [(id: Int64, size: Int64, mtimeNs: Int64)] = []
        var versionIDs: Set<Int64> = []
        // A cursor: a million files are read one row at a time, not held.
        try catalog.read { db in
            let rows = try Row.fetchCursor(
                db, sql: "SELECT id, size, mtime_ns, version_id FROM node WHERE role = 'file' AND archive_path IS NULL")
            while let row = try rows.next() {
                let id: Int64 = row[0]
                checked += 1
                var info = stat()
                guard stat(blobs.path(InodeNumber(id)).string, &info) == 0, Int64(info.st_size) != row[1] as Int64 else { continue }
                let blobMtime = Timespec(seconds: Int64(info.st_mtim.tv_sec), nanoseconds: Int64(info.st_mtim.tv_nsec))
                fixed.append((id, Int64(info.st_size), max(row[2] as Int64, blobMtime.totalNanoseconds)))
                if let versionID: Int64 = row[3] { versionIDs.insert(versionID) }
            }
        }
        if checked > 0 {
            logger.notice("the last run did not stop cleanly: checked the sizes of \(checked) files against their blobs")
        }
        guard !fixed.isEmpty else { return }
        try catalog.write { db in
            for file in fixed {
                try db.execute(
                    sql: "UPDATE node SET size = ?, mtime_ns = ?, ctime_ns = MAX(ctime_ns, ?) WHERE id = ?",
                    arguments: [file.size, file.mtimeNs, file.mtimeNs, file.id])
            }
            for versionID in versionIDs {
                try db.execute(sql: "UPDATE version SET dirty = 1 WHERE node_id = ?", arguments: [versionID])
            }
        }
        logger.notice("took the sizes of \(fixed.count) files from their blobs (not yet saved when the last run stopped)")
    }
}
