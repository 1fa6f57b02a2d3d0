import CurlHTTP
import Dialects
import Foundation
import Gateway
import HTTPTypes
import Logging
import StockCore

/// `stockgate record`: relays each request of a dialect to a configured backend (a real
/// vendor) over libcurl with the backend's own credentials, answers the caller with what the
/// vendor answered, and writes the pair as a contract case (`Recording`) under
/// `directory/<dialect>/`. Only the routes asked for are written; every request is relayed.
public final class Recorder: DirectAnswerer {
    let backend: String
    let baseURL: String
    let client: CurlHTTPClient
    /// The backend's credentials, added to every relayed request.
    let credentials: [(name: String, value: String)]
    /// Every configured secret: none may reach a case.
    let secrets: [String]
    let directory: String
    /// Route names whose exchanges are written (nil: all).
    let routes: Set<String>?
    let clock: @Sendable () -> Date
    let logger: Logger

    /// Answers' data recorded by its shape (`Recording.shaped`), not its values.
    let dataAsMatchers: Bool

    public init(
        backend: String, baseURL: String, client: CurlHTTPClient, credentials: [(name: String, value: String)],
        secrets: [String], directory: String, routes: Set<String>? = nil, dataAsMatchers: Bool = false,
        clock: @escaping @Sendable () -> Date = { Date() }, logger: Logger
    ) {
        self.dataAsMatchers = dataAsMatchers
        self.backend = backend
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.client = client
        self.credentials = credentials
        // The credential values themselves (a bearer header's token) are secrets too.
        self.secrets =
            secrets
            + credentials.flatMap { [$0.value, String($0.value.split(separator: " ").last ?? "")] }
        self.directory = directory
        self.routes = routes
        self.clock = clock
        self.logger = logger
    }

    /// Request headers never relayed: the hop's own, and the caller's credentials (the
    /// backend's are added instead).
    static let hopHeaders: Set<String> = [
        "host", "connection", "content-length", "transfer-encoding", "expect", "keep-alive", "te", "upgrade",
        "proxy-connection", "accept-encoding",
    ]

    public func answer(_ request: DirectRequest) async -> DirectAnswer {
        var fields = HTTPFields()
        var callerSecrets: [String] = []
        for field in request.headers {
            let name = field.name.canonicalName
            if Self.hopHeaders.contains(name) { continue }
            if Recording.isCredential(name) {
                callerSecrets.append(field.value)
                callerSecrets.append(String(field.value.split(separator: " ").last ?? ""))
                continue
            }
            fields.append(field)
        }
        for (name, value) in credentials {
            if let field = HTTPField.Name(name) { fields[field] = value }
        }
        let url = baseURL + request.path + (request.query.isEmpty ? "" : "?" + request.query)
        let response: CurlResponse
        do {
            response = try await client.execute(
                CurlRequest(
                    method: HTTPRequest.Method(request.method) ?? .get, url: url, headerFields: fields,
                    body: request.body.isEmpty && ["GET", "HEAD", "DELETE"].contains(request.method)
                        ? nil : request.body))
        } catch {
            logger.warning(
                "backend unreachable while recording",
                metadata: ["backend": "\(backend)", "error": "\((error as? CurlError)?.code.description ?? "error")"])
            return .refuse(
                GatewayError(code: .unavailable, message: "backend \(backend) is unreachable; nothing recorded"))
        }
        var headers = HTTPFields()
        for (name, value) in response.headers where Recording.keptResponseHeaders.contains(name.lowercased()) {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
        // Whatever the vendor quoted back of a credential is not passed on either.
        let secrets = self.secrets + callerSecrets
        let bodyText = String(decoding: response.body, as: UTF8.self)
        let body =
            Recording.spellings(secrets).contains(where: bodyText.contains)
            ? Array(Recording.redact(bodyText, secrets: secrets).utf8) : response.body
        if routes?.contains(request.route) ?? true {
            write(
                Recording.Exchange(
                    dialect: request.dialect.rawValue, route: request.route, method: request.method, path: request.path,
                    query: QueryString.parse(request.query),
                    requestHeaders: request.headers.map { ($0.name.rawName, $0.value) },
                    requestBody: request.body, status: response.status, responseHeaders: response.headers,
                    responseBody: body),
                secrets: secrets)
        }
        return .answer(CodecResponse(status: HTTPResponse.Status(code: response.status), headers: headers, body: body))
    }

    struct WriteError: Error, CustomStringConvertible {
        var description: String
    }

    /// Writes the case (whole, by rename: a reader never sees half of it).
    func write(_ exchange: Recording.Exchange, secrets: [String]) {
        let folder = (directory as NSString).appendingPathComponent(exchange.dialect)
        let name = Recording.fileName(for: exchange)
        let path = (folder as NSString).appendingPathComponent(name)
        do {
            let text = try Recording.caseText(
                exchange, backend: backend, at: clock(), secrets: secrets, dataAsMatchers: dataAsMatchers)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let temporary = path + ".partial"
            try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, path) == 0 else {
                throw WriteError(description: "cannot rename \(temporary): errno \(errno)")
            }
            logger.info("recorded", metadata: ["case": "\(exchange.dialect)/\(name)", "status": "\(exchange.status)"])
        } catch {
            logger.error("not recorded", metadata: ["case": "\(exchange.dialect)/\(name)", "error": "\(error)"])
        }
    }
}
