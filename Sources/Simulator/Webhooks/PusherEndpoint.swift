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
public enum PusherEndpoint {
    public static func answer(
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
        let fields: ZettlePusher.SubscriptionFields
        switch ZettlePusher.create(body, refuseHost: { hub.destinations.refusal(host: $0) }) {
        case .success(let read): fields = read
        case .failure(let refused): return refused.response
        }
        let uuid = fields.uuid ?? ""
        let subscription = PusherHub.Subscription(
            uuid: uuid.lowercased(), transportName: fields.transportName ?? "WEBHOOK",
            eventNames: fields.eventNames ?? [], destination: fields.destination ?? "",
            contactEmail: fields.contactEmail ?? "", status: "ACTIVE", signingKey: ZettlePusher.makeSigningKey(),
            updated: Date(), owner: client)
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
        let fields: ZettlePusher.SubscriptionFields
        switch ZettlePusher.update(body, refuseHost: { hub.destinations.refusal(host: $0) }) {
        case .success(let read): fields = read
        case .failure(let refused): return refused.response
        }
        let found = await hub.update(uuid.lowercased(), owner: client) { subscription in
            if let events = fields.eventNames { subscription.eventNames = events }
            if let destination = fields.destination { subscription.destination = destination }
            if let email = fields.contactEmail { subscription.contactEmail = email }
        }
        switch found {
        case true: return CodecResponse(status: .ok, headers: HTTPFields(), body: [])
        case false: return refusal(.notFound, "Subscription '\(uuid)' not found", field: "subscriptionUuid")
        case nil: return storeFailed
        }
    }

    /// Zettle's error envelope, as its other APIs answer.
    public static func refusal(
        _ status: HTTPResponse.Status, _ message: String, field: String?, type: String? = nil
    )
        -> CodecResponse
    {
        ZettlePusher.Refused(status, message, field: field, type: type).response
    }
}
