// Listing (v1, one folder level) and creating signed download URLs (one or a batch).
import Foundation
import Hummingbird

extension StorageService {
    func listObjects(_ request: Request, bucket: String) async throws -> Response {
        let body = try await JSONBody.object(request)
        guard var prefix = body["prefix"] as? String else {
            throw APIError.invalidRequest("body must have required property 'prefix'")
        }
        let limit = min(JSONBody.int(body["limit"]) ?? 100, 1500)
        let offset = JSONBody.int(body["offset"]) ?? 0
        guard limit >= 1, offset >= 0 else { throw APIError.invalidRequest("body/limit must be >= 1") }
        let search = (body["search"] as? String) ?? ""
        let sortBy = body["sortBy"] as? [String: Any]
        let column = sortBy?["column"] as? String ?? "name"
        let descending = (sortBy?["order"] as? String)?.lowercased() == "desc"
        if !prefix.isEmpty && !prefix.hasSuffix("/") { prefix += "/" }

        // Missing bucket: an empty list, as the SQL search gives (UNCONFIRMED in the reference; follows its SQL).
        let rows = try await metadata.objects(bucket: bucket, namePrefix: prefix + search)
        var files: [(name: String, row: ObjectRow)] = []
        var folders = Set<String>()
        for row in rows {
            let relative = String(row.name.dropFirst(prefix.count))
            if let slash = relative.firstIndex(of: "/") {
                folders.insert(String(relative[..<slash]))
            } else {
                files.append((relative, row))
            }
        }
        var entries: [(name: String, row: ObjectRow?)] = files.map { ($0.name, $0.row) } + folders.map { ($0, nil) }
        // Name order is lower(name) with byte collation; other columns put folders first.
        entries.sort { a, b in
            if column == "name" {
                let (x, y) = (Array(a.name.lowercased().utf8), Array(b.name.lowercased().utf8))
                return descending ? y.lexicographicallyPrecedes(x) : x.lexicographicallyPrecedes(y)
            }
            switch (a.row, b.row) {
            case (nil, nil): return a.name < b.name
            case (nil, _): return true
            case (_, nil): return false
            case (let ra?, let rb?):
                let (x, y) = (Self.sortValue(ra, column), Self.sortValue(rb, column))
                return descending ? x > y : x < y
            }
        }
        let page = entries.dropFirst(offset).prefix(limit)
        let json: [[String: Any]] = page.map { entry in
            guard let row = entry.row else {
                return [
                    "name": entry.name, "id": NSNull(), "updated_at": NSNull(), "created_at": NSNull(),
                    "last_accessed_at": NSNull(), "metadata": NSNull(),
                ]
            }
            return objectJSON(row, includeBucket: false, name: entry.name)
        }
        return JSONResponse.make(json)
    }

    private static func sortValue(_ row: ObjectRow, _ column: String) -> String {
        switch column {
        case "updated_at": return row.updatedAt
        case "created_at": return row.createdAt
        case "last_accessed_at": return row.lastAccessedAt
        default: return row.name
        }
    }

    /// `expiresIn` may come as a number or a string (storage3 sends "60"); it must be ≥ 1.
    private func expiresIn(_ body: [String: Any]) throws -> Int {
        guard body["expiresIn"] != nil else {
            throw APIError.invalidRequest("body must have required property 'expiresIn'")
        }
        guard let n = JSONBody.int(body["expiresIn"]), n >= 1 else {
            throw APIError.invalidRequest("body/expiresIn must be >= 1")
        }
        // Far beyond any JWT exp: the real server answers InvalidParameter mentioning expiresIn.
        guard n <= 100 * 365 * 86400 else {
            throw APIError("400", "InvalidParameter", "Invalid expiresIn value", code: "InvalidParameter")
        }
        return n
    }

    private func signedPath(bucket: String, key: String, expiresIn: Int) -> String {
        let now = Int(Date().timeIntervalSince1970)
        let token = signer.sign([
            "url": "\(bucket)/\(key)", "scope": "download", "iat": now, "exp": now + expiresIn,
        ])
        // The path comes back decoded (a space stays a space); clients encode it.
        return "/object/sign/\(bucket)/\(key)?token=\(token)"
    }

    func signOne(_ request: Request, bucket: String, key: String) async throws -> Response {
        let seconds = try expiresIn(try await JSONBody.object(request))
        _ = try await requireBucket(bucket)
        _ = try await requireObject(bucket: bucket, key: key)
        return JSONResponse.make(["signedURL": signedPath(bucket: bucket, key: key, expiresIn: seconds)])
    }

    func signMany(_ request: Request, bucket: String) async throws -> Response {
        let body = try await JSONBody.object(request)
        let seconds = try expiresIn(body)
        guard let paths = body["paths"] as? [String], (1...1000).contains(paths.count) else {
            throw APIError.invalidRequest("body must have required property 'paths'")
        }
        var result: [[String: Any]] = []
        for path in paths {
            if try await metadata.object(bucket: bucket, name: path) != nil {
                result.append([
                    "error": NSNull(), "path": path,
                    "signedURL": signedPath(bucket: bucket, key: path, expiresIn: seconds),
                ])
            } else {
                result.append([
                    "error": "Either the object does not exist or you do not have access to it", "path": path,
                    "signedURL": NSNull(),
                ])
            }
        }
        return JSONResponse.make(result)
    }
}
