// PATCH /upload/resumable/<id>: appends a chunk at the upload's offset (@tus/server PatchHandler with
// Supabase's hooks), and commits the object once the offset reaches Upload-Length.
//
// Chunk sizes: Supabase's documentation tells clients to send 6 MB chunks, but the server enforces no chunk
// size. Its S3 store (@tus/s3-store) cuts what it receives into multipart parts of TUS_PART_SIZE (50 MiB by
// default) and keeps a piece smaller than S3's 5 MiB minimum part as an "incomplete part" object that the next
// PATCH continues, so any chunk size works there, and here too: the bytes go straight to the data file.
import Foundation
import Hummingbird

extension StorageService {
    func appendToUpload(_ request: Request, id: String, fault: ResumableFault) async throws -> Response {
        try requireWellFormed(id)
        guard let requested = request.headers[.uploadOffset].flatMap(TusHeaders.integer) else {
            throw TusError.missingOffset
        }
        guard request.headers[.contentType] != nil else { throw TusError.missingContentType }
        try await checkCanWrite(request, upload: try await knownUpload(id))
        var answer = HTTPFields()
        answer[.tusResumable] = Tus.version
        try await resumable.locks.withLock(id) { lease in
            var row = try await liveUpload(id)
            if row.completed {
                // Everything is stored and committed: only the final offset can be "appended" (nothing).
                guard requested == row.offset else { throw TusError.offsetConflict }
                answer[.uploadOffset] = String(row.offset)
                return
            }
            row = try await correctedOffset(row)
            guard requested == row.offset else { throw TusError.offsetConflict }
            let declared = request.headers[.contentLength].flatMap { Int64($0) }
            if let declared, row.offset + declared > row.length { throw TusError.sizeExceeded }
            let before = row.offset
            row = try await storeBody(request, upload: row, lease: lease, fault: fault)
            answer[.uploadOffset] = String(row.offset)
            // Asked to let go by another request: @tus/server answers with what it stored and closes.
            if lease.mustYield { answer[.connection] = "close" }
            if row.offset == row.length {
                try await finishUpload(row)
                answer[.tusComplete] = "1"
            } else {
                answer[.uploadExpires] = Timestamp.http(resumable.expiresAt(row))
            }
            logger.trace("resumable upload \(id): offset \(before) -> \(row.offset)")
        }
        return Response(status: .noContent, headers: answer)
    }

    /// A data file shorter than the recorded offset (its bytes were lost) moves the offset back, durably, so that
    /// HEAD tells the client where to continue.
    private func correctedOffset(_ row: ResumableUploadRow) async throws -> ResumableUploadRow {
        var st = stat()
        let onDisk = stat(resumable.dataPath(row), &st) == 0 ? Int64(st.st_size) : 0
        guard onDisk < row.offset else { return row }
        var corrected = row
        corrected.offset = onDisk
        try await metadata.setUploadOffset(id: row.id, offset: onDisk)
        return corrected
    }

    /// Appends the request body at the upload's offset and records the new offset, also when the body stops
    /// early (the client went away, an injected cut): a tus server keeps what it received. Throws
    /// ``DroppedConnection`` when no answer is to be sent, ``TusError/maxSizeExceeded`` for a body past the room.
    func storeBody(
        _ request: Request,
        upload row: ResumableUploadRow,
        lease: UploadLease,
        fault: ResumableFault
    ) async throws -> ResumableUploadRow {
        let file = try UploadDataFile(path: resumable.dataPath(row), offset: row.offset)
        let room = row.length - file.size
        var cutAfter: Int64?
        if case .cutBody(let fraction) = fault {
            let expected = request.headers[.contentLength].flatMap { Int64($0) } ?? room
            cutAfter = Int64(Double(min(expected, room)) * fraction)
        }
        let receipt: BodyReceipt
        do {
            receipt = try await ResumableBodyReceiver.receive(
                request,
                into: file,
                room: room,
                cutAfter: cutAfter,
                lease: lease
            )
        } catch {
            try? await file.syncAndClose()
            throw error
        }
        try await file.syncAndClose()
        var updated = row
        updated.offset = file.size
        try await metadata.setUploadOffset(id: row.id, offset: updated.offset)
        switch receipt {
        case .complete, .yielded:
            return updated
        case .overLimit:
            throw TusError.maxSizeExceeded
        case .cut:
            throw DroppedConnection()
        case .interrupted(let error):
            logger.debug("resumable upload \(row.id): body ended early at \(updated.offset): \(error)")
            throw DroppedConnection()
        }
    }

    /// Commits the finished data file as the object, exactly as a standard upload commits (size, MD5 ETag,
    /// mimetype, cache control, user metadata). Supabase's completeUpload replaces an existing object here:
    /// the duplicate check happened when this request started.
    func finishUpload(_ row: ResumableUploadRow) async throws {
        let path = resumable.dataPath(row)
        let digest = try await offloaded { try TempBlob.etag(ofFile: path) }
        guard digest.size == row.length else {
            throw APIError.internalError("upload data of \(digest.size) bytes for a length of \(row.length)")
        }
        let blob = try TempBlob(adopting: path, size: digest.size, etag: digest.etag)
        _ = try await commitObject(
            blob,
            bucket: row.bucketID,
            key: row.name,
            mimetype: row.mimetype,
            cacheControl: row.cacheControl,
            userMetadata: row.userMetadata,
            upsert: true
        )
        try await metadata.setUploadOffset(id: row.id, offset: row.length, completed: true)
    }
}
