import Dialects
import Foundation
import HTTPTypes
import StockCore

/// The Pusher API's subscription endpoints (iZettle/api-documentation
/// `pusher-api/api-reference.md`), served with `serve --enable-webhooks`:
///
/// - `POST /organizations/{org}/subscriptions` → 200 with the subscription and its `signingKey`;
///   400 when `uuid` or `transportName` is missing, the transport is not `WEBHOOK`, the uuid is
///   taken or an event name is unknown; 422 when `destination` or `contactEmail` is missing,
///   the destination is not an http(s) URL or the email is not one (or longer than 512).
/// - `GET /organizations/{org}/subscriptions` → 200 with every subscription.
/// - `PUT /organizations/{org}/subscriptions/{uuid}` → 200 without content; 404 unknown; 400 an
///   unknown event; 422 an empty or non-http(s) destination.
/// - `DELETE /organizations/{org}/subscriptions/{uuid}` (and `…/subscriptions/uuid/{uuid}`, as
///   the vendor's example writes it) → 204; 404 unknown.
///
/// `{org}` is `self` or the configured organization UUID. The vendor demands an HTTPS
/// destination; the simulator also takes `http://`, so a test's receiver can listen. A
/// destination must be a public address unless `server.webhook_allowed_networks` allows its
/// range (`DestinationPolicy`): 422 otherwise.
///
/// With clients configured, a subscription is its creator's: another client does not see it in
/// the list, and its PUT or DELETE answers 404 as for an unknown uuid. A client may hold
/// `PusherHub.maxSubscriptions` (400 beyond).
enum PusherEndpoint {
    static func answer(
        method: HTTPRequest.Method, path: String, body: [UInt8]?, hub: PusherHub, client: String?
    ) async -> CodecResponse {
        let segments = path.prefix { $0 != "?" }.split(separator: "/").map(String.init)
        guard segments.count >= 3, segments[1].lowercased() == "self" || segments[1].lowercased() == hub.organization
        else {
            return refusal(
                .notFound, "Organization '\(segments.count > 1 ? segments[1] : "")' not found",
                field: "organizationUuid",
                type: "ENTITY_NOT_FOUND")
        }
        let uuid = segments.count > 3 ? segments.last! : nil
        switch (method, uuid) {
        case (.get, nil):
            return .json(.ok, .array(await hub.owned(by: client).map(\.json)))
        case (.post, nil):
            return await create(body, hub: hub, client: client)
        case (.put, let uuid?):
            return await update(uuid, body, hub: hub, client: client)
        case (.delete, let uuid?):
            switch await hub.remove(uuid.lowercased(), owner: client) {
            case true: return CodecResponse(status: .noContent, headers: HTTPFields(), body: [])
            case false: return refusal(.notFound, "Subscription '\(uuid)' not found", field: "subscriptionUuid")
            case nil: return storeFailed
            }
        default:
            return refusal(.methodNotAllowed, "\(method.rawValue) is not allowed here", field: nil)
        }
    }

    static func create(_ body: [UInt8]?, hub: PusherHub, client: String?) async -> CodecResponse {
        let object: JSONObject
        switch read(body) {
        case .success(let read): object = read
        case .failure(let refused): return refused.response
        }
        guard let uuid = object["uuid"]?.stringValue, !uuid.isEmpty else {
            return refusal(.badRequest, "uuid is required", field: "uuid")
        }
        guard UUID(uuidString: uuid) != nil else {
            return refusal(.badRequest, "uuid must be a UUID", field: "uuid")
        }
        guard let transport = object["transportName"]?.stringValue else {
            return refusal(.badRequest, "transportName is required", field: "transportName")
        }
        guard transport == "WEBHOOK" else {
            return refusal(.badRequest, "transportName must be WEBHOOK", field: "transportName")
        }
        let events: [String]
        switch eventNames(object["eventNames"]) {
        case .success(let names): events = names
        case .failure(let refused): return refused.response
        }
        guard let destination = object["destination"]?.stringValue, !destination.isEmpty else {
            return refusal(.unprocessableContent, "destination is required", field: "destination")
        }
        if let refused = checkDestination(destination, hub: hub) { return refused }
        guard let email = object["contactEmail"]?.stringValue, !email.isEmpty else {
            return refusal(.unprocessableContent, "contactEmail is required", field: "contactEmail")
        }
        if let refused = checkEmail(email) { return refused }
        let subscription = PusherHub.Subscription(
            uuid: uuid.lowercased(), transportName: transport, eventNames: events, destination: destination,
            contactEmail: email, status: "ACTIVE", signingKey: PusherHub.makeSigningKey(), updated: Date(),
            owner: client)
        switch await hub.add(subscription) {
        case .added:
            return .json(.ok, subscription.json)
        case .taken:
            return refusal(.badRequest, "a subscription with uuid '\(uuid)' already exists", field: "uuid")
        case .limit:
            return refusal(
                .badRequest, "a client may hold at most \(hub.maxSubscriptions) subscriptions: delete one first",
                field: "uuid")
        case .failed:
            return storeFailed
        }
    }

    /// The store did not take a change: nothing changed, try again.
    static var storeFailed: CodecResponse {
        refusal(.serviceUnavailable, "the subscription could not be stored; nothing was changed; try again", field: nil)
    }

    static func update(_ uuid: String, _ body: [UInt8]?, hub: PusherHub, client: String?) async -> CodecResponse {
        let object: JSONObject
        switch read(body) {
        case .success(let read): object = read
        case .failure(let refused): return refused.response
        }
        var events: [String]?
        if object["eventNames"] != nil {
            switch eventNames(object["eventNames"]) {
            case .success(let names): events = names
            case .failure(let refused): return refused.response
            }
        }
        let destination = object["destination"]?.stringValue
        if object["destination"] != nil {
            guard let destination, !destination.isEmpty else {
                return refusal(.unprocessableContent, "destination must not be empty", field: "destination")
            }
            if let refused = checkDestination(destination, hub: hub) { return refused }
        }
        let email = object["contactEmail"]?.stringValue
        if let email, let refused = checkEmail(email) { return refused }
        if let transport = object["transportName"]?.stringValue, transport != "WEBHOOK" {
            return refusal(.badRequest, "transportName must be WEBHOOK", field: "transportName")
        }
        let found = await hub.update(uuid.lowercased(), owner: client) { subscription in
            if let events { subscription.eventNames = events }
            if let destination { subscription.destination = destination }
            if let email { subscription.contactEmail = email }
        }
        switch found {
        case true: return CodecResponse(status: .ok, headers: HTTPFields(), body: [])
        case false: return refusal(.notFound, "Subscription '\(uuid)' not found", field: "subscriptionUuid")
        case nil: return storeFailed
        }
    }

    static func read(_ body: [UInt8]?) -> Result<JSONObject, Refusal> {
        let bytes = body ?? []
        guard !bytes.isEmpty else { return .success(JSONObject()) }
        guard let value = try? JSONParser.parse(bytes), let object = value.objectValue else {
            return .failure(Refusal(refusal(.badRequest, "the body must be a JSON object", field: nil)))
        }
        return .success(object)
    }

    static func eventNames(_ value: JSONValue?) -> Result<[String], Refusal> {
        guard let value else { return .success([]) }
        guard let items = value.arrayValue else {
            return .failure(Refusal(refusal(.badRequest, "eventNames must be an array", field: "eventNames")))
        }
        var names: [String] = []
        for item in items {
            guard let name = item.stringValue, PusherHub.supportedEvents.contains(name) else {
                return .failure(
                    Refusal(refusal(.badRequest, "unsupported event '\(item.stringValue ?? "")'", field: "eventNames")))
            }
            names.append(name)
        }
        return .success(names)
    }

    static func checkDestination(_ destination: String, hub: PusherHub) -> CodecResponse? {
        guard let url = URL(string: destination), let scheme = url.scheme?.lowercased(),
            scheme == "https" || scheme == "http", let host = url.host, !host.isEmpty
        else {
            return refusal(.unprocessableContent, "destination must be an HTTPS URL", field: "destination")
        }
        if let problem = hub.destinations.refusal(host: host) {
            return refusal(.unprocessableContent, problem, field: "destination")
        }
        return nil
    }

    static func checkEmail(_ email: String) -> CodecResponse? {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.count <= 512, parts.count == 2, !parts[0].isEmpty, parts[1].contains(".") else {
            return refusal(.unprocessableContent, "contactEmail must be an email address", field: "contactEmail")
        }
        return nil
    }

    /// A refusal, carried through `Result`.
    struct Refusal: Error {
        let response: CodecResponse
        init(_ response: CodecResponse) { self.response = response }
    }

    /// Zettle's error envelope, as its other APIs answer.
    static func refusal(
        _ status: HTTPResponse.Status, _ message: String, field: String?, type: String? = nil
    )
        -> CodecResponse
    {
        var violations: [JSONValue] = []
        if let field {
            violations.append([
                "propertyName": .string(field), "developerMessage": .string(message), "constraintType": "INVALID",
            ])
        }
        return .json(
            status,
            [
                "developerMessage": .string(message), "errorType": .optional(type), "violations": .array(violations),
            ])
    }
}
