// The namespace's side of status.json (the documents are Status/StatusReport.swift): the facts
// about versions and the mount it gathers under its lock.
import Foundation
import GRDB

extension Namespace {
    var report: StatusReport {
        StatusReport(
            configuration: configuration, uploads: uploads, fetched: fetched, openFiles: openFiles, connection: connection,
            dataDirectory: dataDirectory)
    }

    /// A version's facts; `saving` first writes sizes still in memory, so the totals are exact.
    func versionFactsLocked(_ version: VersionRecord, saving: Bool = true) throws(FSError) -> VersionFacts {
        if saving {
            do {
                try saveDirtyLocked()
            } catch {
                logger.warning("status.json may show stale sizes: \(error)")
            }
        }
        let generation = try nodeLocked(version.generationNodeID)
        let project = try projectLocked(ofGeneration: generation)
        let totals = try contentTotalsLocked(version)
        let metadata = try readCatalogLocked("reading a version's metadata") { try ExtendedAttribute.all($0, node: version.nodeID) }
        return VersionFacts(
            record: version, project: String(decoding: project.nameBytes, as: UTF8.self),
            generation: String(decoding: generation.nameBytes, as: UTF8.self), files: totals.files, bytes: totals.bytes,
            socketsLeftOut: totals.sockets,
            metadata: metadata.map(Self.metadataMember), localArchive: localArchiveLocked(version))
    }

    /// Files, bytes and sockets of the version, counted again only after it changed (touchVersionLocked forgets the count): the count
    /// reads every row of the version (a million at the sizes users reach) under the lock, and
    /// scripts poll status.json. Versions from the bucket are counted each time: their rows arrive
    /// as their directories are listed, which does not change the version.
    private func contentTotalsLocked(_ version: VersionRecord) throws(FSError) -> Node.ContentTotals {
        if version.origin == .local, let counted = countedTotals[version.nodeID] { return counted }
        let totals = try readCatalogLocked("counting a version's files") { try Node.contentTotals($0, version: version.nodeID) }
        if version.origin == .local { countedTotals[version.nodeID] = totals }
        return totals
    }

    func generationStatusLocked(_ generation: Node) throws(FSError) -> JSONValue {
        guard let generationID = generation.id else { throw FSError.notFound() }
        let project = try projectLocked(ofGeneration: generation)
        let own = versions.values.filter { $0.generationNodeID == generationID }.sorted { $0.number < $1.number }
        var facts: [VersionFacts] = []
        for version in own { facts.append(try versionFactsLocked(version, saving: facts.isEmpty)) }
        return report.generation(
            id: String(decoding: generation.nameBytes, as: UTF8.self), project: String(decoding: project.nameBytes, as: UTF8.self),
            versions: facts)
    }

    func rootStatusLocked() throws(FSError) -> JSONValue {
        let counts = try readCatalogLocked("counting projects and generations") { db in
            (
                try Node.filter(Node.Columns.role == NodeRole.project).fetchCount(db),
                try Node.filter(Node.Columns.role == NodeRole.generation).fetchCount(db)
            )
        }
        let facts = RootFacts(
            projects: counts.0, generations: counts.1, versions: Array(versions.values), cleanCopyBytes: cleanCopyBytesLocked())
        do {
            return try report.root(facts)
        } catch {
            throw FSError.wrapping(error, "reading the upload queue")
        }
    }

    /// What `download_url` of the version answers (no files counted: it is read by scripts, often).
    func downloadURLLocked(_ version: VersionRecord) -> String? {
        report.downloadURL(version.nodeID, localArchive: localArchiveLocked(version))
    }

    /// The local archive, once a snapshot exists and the local copy is kept.
    private func localArchiveLocked(_ version: VersionRecord) -> String? {
        guard version.snapshottedAtNs != nil, version.localCopy else { return nil }
        return try? archivePathsLocked(version).archive.string
    }

    /// A version xattr as a metadata member: the name without `user.`, the value as text (bytes
    /// that are not UTF-8, or a NUL, written `\xNN`: the JSON stays valid and says what is there).
    static func metadataMember(_ attribute: ExtendedAttribute) -> (String, String) {
        (metadataKey(attribute), metadataText([UInt8](attribute.value)))
    }

    /// The xattr's name without `user.`, as text.
    static func metadataKey(_ attribute: ExtendedAttribute) -> String {
        let name = metadataText([UInt8](attribute.name))
        return name.hasPrefix("user.") ? String(name.dropFirst(5)) : name
    }

    private static func metadataText(_ bytes: [UInt8]) -> String {
        guard !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) else { return NameRules.readablePath(bytes) }
        return text
    }
}
