// Many mounts, one bucket (DESIGN §6): versions other mounts uploaded are found by listing the
// bucket (everything at start; a folder again when its directory is read or a name in it is
// missed, at most once per REMOTE_LIST_INTERVAL) and added sealed, their files known from the
// TOC and fetched only when read. A version this mount has under the same number stays its own.
import Foundation
import GRDB
import SeekableArchive
import SupabaseStorage
import SystemPackage

/// What part of the bucket to list.
public enum BucketScope: Sendable, Hashable {
    /// Every project, generation and version (at start).
    case everything
    /// The projects, and everything in projects this mount does not know yet.
    case projects
    /// One project's generations, and everything in generations this mount does not know yet.
    case project(String)
    /// One generation's versions.
    case generation(project: String, generation: String)
}

extension Namespace {
    /// Lists the bucket under `scope` and adds the versions found there. Called without the lock;
    /// failures are logged and leave the tree as it was.
    public func listBucket(_ scope: BucketScope) {
        guard let remote else { return }
        do {
            switch scope {
            case .everything:
                for project in try folders(remote, "projects") { try listProject(remote, project, everything: true) }
            case .projects:
                for project in try folders(remote, "projects") where !knowsProject(project) {
                    try listProject(remote, project, everything: true)
                }
            case .project(let project):
                try listProject(remote, project, everything: false)
            case .generation(let project, let generation):
                try listGeneration(remote, project, generation)
            }
        } catch {
            logger.warning("listing the bucket (\(scope)) failed; versions of other mounts may be missing: \(error)")
        }
    }

    /// Lists the bucket folder behind directory `ino` if it was not listed within the interval.
    /// Returns whether it listed.
    @discardableResult
    func listBucketIfDue(for ino: InodeNumber) -> Bool {
        guard let connection else { return false }
        let scope: BucketScope? = withLockNonThrowing {
            if let view = VirtualEntry(ino: ino) {
                return view.kind == .generationsView || view.kind == .activeView ? .projects : nil
            }
            guard let node = try? nodeLocked(ino: ino) else { return nil }
            switch node.role {
            case .projects: return .projects
            case .project: return .project(String(decoding: node.nameBytes, as: UTF8.self))
            case .projectGenerations:
                return (try? nodeLocked(node.parentID ?? 0)).map { .project(String(decoding: $0.nameBytes, as: UTF8.self)) }
            case .generation:
                return (try? projectLocked(ofGeneration: node)).map {
                    .generation(
                        project: String(decoding: $0.nameBytes, as: UTF8.self),
                        generation: String(decoding: node.nameBytes, as: UTF8.self))
                }
            default: return nil
            }
        }
        // While the storage is unreachable, nothing is listed: the listing once it answers covers everything.
        guard let scope, connection.waitForFirstAnswer(timeout: 5) else { return false }
        let due = listings.claim(scope)
        if due { listBucket(scope) }
        return due
    }

    // MARK: - Walking the bucket

    private func listProject(_ remote: any ObjectStore, _ project: String, everything: Bool) throws {
        for generation in try folders(remote, "projects/\(project)/generations")
        where everything || !knowsGeneration(generation) {
            try listGeneration(remote, project, generation)
        }
    }

    private func listGeneration(_ remote: any ObjectStore, _ project: String, _ generation: String) throws {
        let prefix = "projects/\(project)/generations/\(generation)"
        let tocs = try objects(remote, prefix).compactMap { object in Self.tocVersionNumber(object.name).map { ($0, object.size) } }
        for (number, size) in tocs.sorted(by: { $0.0 < $1.0 }) where !knowsVersion(project, generation, number) {
            // The listing at start and one a lookup asked for may find a version at once: one
            // fetches its TOC and adds it, the other waits for that.
            try discoveries.run("\(prefix)/v\(number)") { () throws(FSError) in
                guard !knowsVersion(project, generation, number) else { return }
                try addRemoteVersion(remote, project, generation, number, size: size)
            }
        }
    }

    private func addRemoteVersion(
        _ remote: any ObjectStore, _ project: String, _ generation: String, _ number: Int, size: Int64?
    ) throws(FSError) {
        let stem = "projects/\(project)/generations/\(generation)/v\(number)"
        let fetched: FilePath
        do {
            fetched = try fetchTOC(remote, key: stem + ".toc.json", size: size, stem: stem)
        } catch let error as ArchiveError {
            logger.warning("skipping \(stem).toc.json in the bucket: not a readable TOC (\(error))")
            return
        } catch {
            throw FSError.wrapping(error, "fetching \(stem).toc.json")
        }
        do {
            try withLock { () throws(FSError) in
                try addRemoteVersionLocked(project: project, generation: generation, number: number, fetchedTOC: fetched)
            }
        } catch {
            logger.warning("could not add \(stem) found in the bucket: \(error)")
        }
    }

    /// The valid ids among the folders under `prefix`.
    private func folders(_ remote: any ObjectStore, _ prefix: String) throws -> [String] {
        try Self.remoteCall { try await remote.listAll(prefix: prefix) }
            .filter { $0.isFolder && (try? NameRules.parseID(Array($0.name.utf8), what: "id")) != nil }.map(\.name)
    }

    private func objects(_ remote: any ObjectStore, _ prefix: String) throws -> [ListEntry] {
        try Self.remoteCall { try await remote.listAll(prefix: prefix) }.filter { !$0.isFolder }
    }

    /// `v<n>.toc.json` → n.
    static func tocVersionNumber(_ name: String) -> Int? {
        guard name.hasSuffix(".toc.json") else { return nil }
        return NameRules.versionNumber(Array(name.dropLast(".toc.json".count).utf8))
    }

    private func knowsProject(_ project: String) -> Bool {
        withLockNonThrowing { (try? childLocked(try nodeLocked(Catalog.projectsID), Array(project.utf8))) != nil }
    }

    private func knowsGeneration(_ generation: String) -> Bool {
        withLockNonThrowing { (try? readCatalogLocked("looking up a generation") { try Node.generation($0, id: generation) }) != nil }
    }

    private func knowsVersion(_ project: String, _ generation: String, _ number: Int) -> Bool {
        withLockNonThrowing { (try? versionLocked(project, generation, number)) != nil }
    }

    func versionLocked(_ project: String, _ generation: String, _ number: Int) throws(FSError) -> VersionRecord? {
        guard let node = try readCatalogLocked("looking up a generation", { try Node.generation($0, id: generation) }),
            let id = node.id
        else { return nil }
        return versionLocked(generation: id, number: number)
    }
}

/// When each bucket folder was last listed: a folder is listed again at most once per
/// REMOTE_LIST_INTERVAL. Its own lock, a leaf.
final class ListingSchedule: @unchecked Sendable {
    private let interval: Duration
    private let lock = NSLock()
    private var listedAt: [BucketScope: ContinuousClock.Instant] = [:]  // guarded by `lock`

    init(interval seconds: Double) { interval = .milliseconds(Int64(seconds * 1000)) }

    /// True, and the folder counts as listed now, when its last listing is older than the interval.
    func claim(_ scope: BucketScope) -> Bool {
        lock.withLock {
            if let last = listedAt[scope], ContinuousClock.now - last < interval { return false }
            listedAt[scope] = .now
            return true
        }
    }
}
