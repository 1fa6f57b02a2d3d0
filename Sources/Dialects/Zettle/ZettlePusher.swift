import Crypto
import Foundation
import HTTPTypes
import StockCore

/// Zettle's Pusher API as the vendor documents and sends it (iZettle/api-documentation
/// `pusher-api/`; the message as shopware/SwagPayPal's webhook fixture has it): the event names,
/// the `InventoryBalanceChanged` message with its `payload` a JSON string, its signature
/// `X-iZettle-Signature` = hex HMAC-SHA256 of `timestamp + "." + payload` keyed by the
/// subscription's `signingKey`, the subscription calls' bodies and their refusals. Pure: who
/// subscribes and what is delivered when is the simulator's (`PusherHub` in Gateway).
public enum ZettlePusher {
    /// The events a subscription may name (the vendor's list).
    public static let supportedEvents: Set<String> = [
        "PurchaseCreated", "InvoiceCreated", "OrganizationUpdated", "CardPaymentAuthorized", "ProductCreated",
        "ProductUpdated", "ProductDeleted", "InventoryBalanceChanged", "InventoryTrackingStarted",
        "InventoryTrackingStopped", "ApplicationConnectionRemoved", "PersonalAssertionDeleted", "TestMessage",
    ]

    /// The one event StockGate sends.
    public static let balanceChanged = "InventoryBalanceChanged"

    /// The organization UUID messages carry when none is configured (`dialects.zettle.organization_uuid`).
    public static let defaultOrganization = "5e1c0a00-57c0-11ee-8000-000000000001"

    /// The header carrying a message's signature.
    public static let signatureHeader = HTTPField.Name("X-iZettle-Signature")!

    // MARK: Messages

    /// The net change of `movements` per location and product, for the catalog's Zettle stock
    /// locations and variants only (location key → product key → change).
    public static func changes(_ movements: [Movement], catalog: Catalog) -> [String: [String: Quantity]] {
        var deltas: [String: [String: Quantity]] = [:]
        for movement in movements {
            guard let product = catalog.product(key: movement.product), product.zettleVariantUUID != nil else {
                continue
            }
            for (key, sign) in [(movement.from, -1), (movement.to, 1)] {
                // Stock is kept at tracked locations only (the STORE); SUPPLIER, SOLD and BIN
                // are where it comes from and goes to.
                guard let location = catalog.location(key: key), location.zettleUUID != nil, location.kind.isTracked
                else { continue }
                let change = sign < 0 ? Quantity.zero - movement.quantity : movement.quantity
                deltas[key, default: [:]][product.key] = (deltas[key]?[product.key] ?? .zero) + change
            }
        }
        return deltas
    }

    /// One balance of a message: a variant at a location, before and after the change.
    public struct Balance: Sendable, Equatable {
        public var location: Location
        public var product: Product
        public var before: Quantity
        public var after: Quantity

        public init(location: Location, product: Product, before: Quantity, after: Quantity) {
            self.location = location
            self.product = product
            self.before = before
            self.after = after
        }
    }

    /// An `InventoryBalanceChanged` payload (the text a message carries in `payload`).
    /// - Parameter update: the UUID of the change (`updated.uuid`).
    public static func payload(
        organization: String, update: String, timestamp: String, balances: [Balance], externalUUID: String?
    ) -> String {
        func row(_ balance: Balance, _ quantity: Quantity) -> JSONValue {
            [
                "organizationUuid": .string(organization), "locationUuid": .optional(balance.location.zettleUUID),
                "productUuid": .optional(balance.product.zettleProductUUID),
                "variantUuid": .optional(balance.product.zettleVariantUUID), "balance": .string(quantity.description),
            ]
        }
        return JSONWriter.string([
            "organizationUuid": .string(organization),
            "updated": ["uuid": .string(update), "timestamp": .string(timestamp), "userType": "USER"],
            "balanceBefore": .array(balances.map { row($0, $0.before) }),
            "balanceAfter": .array(balances.map { row($0, $0.after) }), "externalUuid": .optional(externalUUID),
        ])
    }

    /// A message as delivered: the envelope around `payload`.
    public static func message(organization: String, messageID: String, payload: String, timestamp: String) -> [UInt8] {
        JSONWriter.bytes([
            "organizationUuid": .string(organization), "messageUuid": .string(messageID),
            "eventName": .string(balanceChanged), "messageId": .string(messageID), "payload": .string(payload),
            "timestamp": .string(timestamp),
        ])
    }

    /// Lowercase hex HMAC-SHA256 of `timestamp.payload` keyed by `key`.
    public static func signature(timestamp: String, payload: String, key: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(
            for: Data((timestamp + "." + payload).utf8), using: SymmetricKey(data: Data(key.utf8)))
        return code.map { String(format: "%02x", $0) }.joined()
    }

    /// A new signing key: 64 letters and digits, as the vendor's.
    public static func makeSigningKey() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<64).map { _ in alphabet.randomElement(using: &generator)! })
    }

    // MARK: Subscriptions

    /// What a subscription call's body says (absent members nil).
    public struct SubscriptionFields: Sendable, Equatable {
        public var uuid: String?
        public var transportName: String?
        public var eventNames: [String]?
        public var destination: String?
        public var contactEmail: String?
        /// `eventNames` as sent, checked in the vendor's order of checks.
        var events: JSONValue?
    }

    /// A `POST …/subscriptions` body, checked as the vendor checks it (400 for `uuid`,
    /// `transportName` and event names, 422 for `destination` and `contactEmail`).
    /// - Parameter refuseHost: why a destination's host may not be used, if it may not (the
    ///   simulator's `DestinationPolicy`).
    public static func create(
        _ body: [UInt8]?, refuseHost: (String) -> String?
    ) -> Result<SubscriptionFields, Refused> {
        Result { () throws(Refused) in
            var fields = try read(body)
            guard let uuid = fields.uuid, !uuid.isEmpty else {
                throw Refused(.badRequest, "uuid is required", field: "uuid")
            }
            guard UUID(uuidString: uuid) != nil else {
                throw Refused(.badRequest, "uuid must be a UUID", field: "uuid")
            }
            guard let transport = fields.transportName else {
                throw Refused(.badRequest, "transportName is required", field: "transportName")
            }
            guard transport == "WEBHOOK" else {
                throw Refused(.badRequest, "transportName must be WEBHOOK", field: "transportName")
            }
            fields.eventNames = try eventNames(fields.events) ?? []
            guard let destination = fields.destination, !destination.isEmpty else {
                throw Refused(.unprocessableContent, "destination is required", field: "destination")
            }
            try checkDestination(destination, refuseHost: refuseHost)
            guard let email = fields.contactEmail, !email.isEmpty else {
                throw Refused(.unprocessableContent, "contactEmail is required", field: "contactEmail")
            }
            try checkEmail(email)
            return fields
        }
    }

    /// A `PUT …/subscriptions/{uuid}` body: what it changes, checked.
    public static func update(
        _ body: [UInt8]?, refuseHost: (String) -> String?
    ) -> Result<SubscriptionFields, Refused> {
        Result { () throws(Refused) in
            var fields = try read(body)
            fields.eventNames = try eventNames(fields.events)
            if let destination = fields.destination {
                guard !destination.isEmpty else {
                    throw Refused(.unprocessableContent, "destination must not be empty", field: "destination")
                }
                try checkDestination(destination, refuseHost: refuseHost)
            }
            if let email = fields.contactEmail { try checkEmail(email) }
            if let transport = fields.transportName, transport != "WEBHOOK" {
                throw Refused(.badRequest, "transportName must be WEBHOOK", field: "transportName")
            }
            return fields
        }
    }

    /// The members of a subscription body, their types checked.
    static func read(_ body: [UInt8]?) throws(Refused) -> SubscriptionFields {
        let bytes = body ?? []
        var fields = SubscriptionFields()
        guard !bytes.isEmpty else { return fields }
        guard let value = try? JSONParser.parse(bytes), let object = value.objectValue else {
            throw Refused(.badRequest, "the body must be a JSON object", field: nil)
        }
        fields.uuid = object["uuid"]?.stringValue
        fields.transportName = object["transportName"]?.stringValue
        fields.contactEmail = object["contactEmail"]?.stringValue
        if let destination = object["destination"] { fields.destination = destination.stringValue ?? "" }
        fields.events = object["eventNames"]
        return fields
    }

    /// The event names sent (nil when none were), each one the vendor knows.
    static func eventNames(_ value: JSONValue?) throws(Refused) -> [String]? {
        guard let value else { return nil }
        guard let items = value.arrayValue else {
            throw Refused(.badRequest, "eventNames must be an array", field: "eventNames")
        }
        var names: [String] = []
        for item in items {
            guard let name = item.stringValue, supportedEvents.contains(name) else {
                throw Refused(.badRequest, "unsupported event '\(item.stringValue ?? "")'", field: "eventNames")
            }
            names.append(name)
        }
        return names
    }

    /// An http(s) URL with a host (the vendor demands HTTPS; a test's receiver listens on http).
    static func checkDestination(_ destination: String, refuseHost: (String) -> String?) throws(Refused) {
        guard let url = URL(string: destination), let scheme = url.scheme?.lowercased(),
            scheme == "https" || scheme == "http", let host = url.host, !host.isEmpty
        else {
            throw Refused(.unprocessableContent, "destination must be an HTTPS URL", field: "destination")
        }
        if let problem = refuseHost(host) { throw Refused(.unprocessableContent, problem, field: "destination") }
    }

    static func checkEmail(_ email: String) throws(Refused) {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard email.count <= 512, parts.count == 2, !parts[0].isEmpty, parts[1].contains(".") else {
            throw Refused(.unprocessableContent, "contactEmail must be an email address", field: "contactEmail")
        }
    }

    /// A refusal in Zettle's envelope, as its other APIs answer.
    public struct Refused: Error, Sendable {
        public let response: CodecResponse

        public init(_ status: HTTPResponse.Status, _ message: String, field: String?, type: String? = nil) {
            var violations: [JSONValue] = []
            if let field {
                violations.append([
                    "propertyName": .string(field), "developerMessage": .string(message),
                    "constraintType": "INVALID",
                ])
            }
            response = .json(
                status,
                [
                    "developerMessage": .string(message), "errorType": .optional(type),
                    "violations": .array(violations),
                ])
        }
    }
}
