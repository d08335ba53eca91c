// The HTTP entry point: strips `/storage/v1`, decodes the path, injects test faults, turns errors into answers.
// Faults apply to the object routes and the resumable-upload routes (`/upload/resumable`).
import Foundation
import Hummingbird
import Logging

struct StorageResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let service: StorageService

    private static let base = "/storage/v1"

    func respond(to request: Request, context: Context) async throws -> Response {
        let rawPath = request.uri.path
        let relative = rawPath.hasPrefix(Self.base + "/") ? String(rawPath.dropFirst(Self.base.count)) : rawPath
        let isHead = request.method == .head
        do {
            guard rawPath.hasPrefix(Self.base + "/") else {
                throw APIError.routeNotFound(request.method.rawValue, relative)
            }
            var segments: [String] = []
            for raw in relative.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
                guard let decoded = String(raw).removingPercentEncoding else {
                    throw APIError.invalidKey(String(raw))
                }
                segments.append(decoded)
            }
            if segments.last == "" && segments.count > 1 { segments.removeLast() }
            if segments.first == "upload" {
                return try await respondResumable(request, segments, relativePath: relative)
            }
            if segments.first == "object", let fault = try await injectFault(request) { return fault }
            let response = try await service.route(request, segments, relativePath: relative)
            if segments.first == "object" && chance(service.configuration.faultResetRate / 2) {
                // The work is done (an upload is committed) but the answer is lost.
                return Self.resetting(response)
            }
            return response
        } catch let drop as DroppedConnection {
            throw drop
        } catch let error as APIError {
            service.logger.debug("\(request.method) \(relative) -> \(error.httpStatus) \(error.code)")
            return error.response(head: isHead)
        } catch {
            service.logger.error("\(request.method) \(relative) failed: \(error)")
            return APIError.internalError("Internal Server Error").response(head: isHead)
        }
    }

    private func chance(_ p: Double) -> Bool { p > 0 && Double.random(in: 0..<1) < p }

    /// An injected 503, after reading the body. Both shapes occur in the wild: a gateway's real 503, and the
    /// API's HTTP 400 with body "503".
    private func injected503(_ request: Request) async throws -> Response {
        try await UploadReceiver.drain(request)
        if Bool.random() {
            let message = "Please reduce your request rate (injected)"
            return APIError(http: 503, "503", "SlowDown", message, code: "SlowDown")
                .response(head: request.method == .head)
        }
        return APIError("503", "DatabaseReadOnly", "The database is read-only (injected)", code: "DatabaseReadOnly")
            .response(head: request.method == .head)
    }

    /// Test faults, all off by default: latency, 503 answers, and connections dropped before any work.
    private func injectFault(_ request: Request) async throws -> Response? {
        let c = service.configuration
        if c.faultLatencyMs > 0 { try await Task.sleep(for: .milliseconds(c.faultLatencyMs)) }
        if chance(c.faultRate) { return try await injected503(request) }
        if chance(c.faultResetRate / 2) {
            try await UploadReceiver.drain(request)
            return Self.resetting(APIError.internalError("reset").response())
        }
        return nil
    }

    /// The TUS routes with their faults: latency and 503s as for objects; a reset either cuts the body partway
    /// (after storing part of it) or drops the answer after the work, both without any answer.
    private func respondResumable(_ request: Request, _ segments: [String], relativePath: String) async throws
        -> Response
    {
        let c = service.configuration
        if c.faultLatencyMs > 0 { try await Task.sleep(for: .milliseconds(c.faultLatencyMs)) }
        if chance(c.faultRate) { return try await injected503(request) }
        var fault = ResumableFault.none
        if chance(c.faultResetRate) {
            if Bool.random() {
                fault = .dropAnswer
            } else if request.method == .patch || request.method == .post, TusHeaders.hasBody(request) {
                fault = .cutBody(Double.random(in: 0.05..<0.95))
            } else {
                try await UploadReceiver.drain(request)
                throw DroppedConnection()
            }
        }
        if c.faultCutEveryPatch > 0, request.method == .patch, service.patches.next() % c.faultCutEveryPatch == 0 {
            fault = .cutBody(0.5)
        }
        let rest = Array(segments.dropFirst())
        let response = try await service.resumableRoute(request, rest, relativePath: relativePath, fault: fault)
        if case .dropAnswer = fault { throw DroppedConnection() }
        return response
    }

    /// Keeps the head of `response` but drops the connection after at most one byte of its body.
    private static func resetting(_ response: Response) -> Response {
        var headers = response.headers
        let declared = headers[.contentLength].flatMap { Int($0) } ?? 0
        headers[.contentLength] = String(max(declared, 2))
        return Response(
            status: response.status,
            headers: headers,
            body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: "{"))
                throw InjectedReset()
            }
        )
    }
}

struct InjectedReset: Error {}

/// Thrown out of the responder to close the connection without any answer (HummingbirdCore closes the
/// channel when its responder throws).
struct DroppedConnection: Error {}
