/// A failure that reaches the caller, in canonical terms; each dialect encodes it in its own
/// envelope.
///
/// Built through static members, as async-http-client's errors are. `code` is stable and
/// short (it can be a metric label); `message` is for people and may carry values; `field`
/// names the offending field in the caller's own dialect, when there is one.
public struct GatewayError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case malformed, missing, invalidValue, unknownField, notFound, insufficientStock, conflict
            case unsupported, unauthorized, forbidden, tooLarge, tooManyRequests, requestTimeout, backendFailure
            case unavailable, unknownOutcome, `internal`, noSuchEndpoint, methodNotAllowed
        }
        private let base: Base

        /// The body is not readable (not JSON, wrong shape).
        public static let malformed = Code(base: .malformed)
        /// A required field is absent.
        public static let missing = Code(base: .missing)
        /// A field has a value out of range or of the wrong type.
        public static let invalidValue = Code(base: .invalidValue)
        /// A field the dialect does not have.
        public static let unknownField = Code(base: .unknownField)
        /// An unknown product, location, store or movement.
        public static let notFound = Code(base: .notFound)
        /// Moving more than a stock location holds.
        public static let insufficientStock = Code(base: .insufficientStock)
        /// The request contradicts the state (a transfer that is not pending, an idempotency key reused).
        public static let conflict = Code(base: .conflict)
        /// The backend cannot express what was asked.
        public static let unsupported = Code(base: .unsupported)
        public static let unauthorized = Code(base: .unauthorized)
        public static let forbidden = Code(base: .forbidden)
        public static let tooLarge = Code(base: .tooLarge)
        /// More requests at once than the gateway takes.
        public static let tooManyRequests = Code(base: .tooManyRequests)
        /// The request body did not arrive in time.
        public static let requestTimeout = Code(base: .requestTimeout)
        /// The backend answered with an error of its own.
        public static let backendFailure = Code(base: .backendFailure)
        /// The backend could not be reached.
        public static let unavailable = Code(base: .unavailable)
        /// The backend did not answer a write in time: it may or may not have applied it.
        public static let unknownOutcome = Code(base: .unknownOutcome)
        public static let `internal` = Code(base: .internal)
        /// The path names no endpoint of the dialect (a dialect whose endpoint is in the path
        /// or body, as Open2b's `commerce.movements.<method>`, finds this only when decoding).
        public static let noSuchEndpoint = Code(base: .noSuchEndpoint)
        /// The endpoint exists but not for this HTTP method.
        public static let methodNotAllowed = Code(base: .methodNotAllowed)

        public var description: String { base.rawValue }

        /// The code named `name` (its `description`), if there is one.
        public init?(name: String) {
            guard let base = Base(rawValue: name) else { return nil }
            self.base = base
        }

        private init(base: Base) {
            self.base = base
        }
    }

    public let code: Code
    public let message: String
    public let field: String?

    public init(code: Code, message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String {
        field.map { "\(code) (\($0)): \(message)" } ?? "\(code): \(message)"
    }

    /// The same error naming another field (a dialect translating canonical names to its own).
    public func withField(_ field: String?) -> GatewayError {
        GatewayError(code: code, message: message, field: field)
    }

    public static func malformed(_ message: String, field: String? = nil) -> GatewayError {
        GatewayError(code: .malformed, message: message, field: field)
    }
    public static func missing(_ field: String) -> GatewayError {
        GatewayError(code: .missing, message: "\(field) is required", field: field)
    }
    public static func invalidValue(_ message: String, field: String?) -> GatewayError {
        GatewayError(code: .invalidValue, message: message, field: field)
    }
    public static func unknownField(_ field: String) -> GatewayError {
        GatewayError(code: .unknownField, message: "unknown field \(field)", field: field)
    }
    public static func notFound(_ message: String, field: String? = nil) -> GatewayError {
        GatewayError(code: .notFound, message: message, field: field)
    }
    public static func insufficientStock(_ message: String, field: String? = nil) -> GatewayError {
        GatewayError(code: .insufficientStock, message: message, field: field)
    }
    public static func conflict(_ message: String, field: String? = nil) -> GatewayError {
        GatewayError(code: .conflict, message: message, field: field)
    }
    public static func unsupported(_ message: String, field: String? = nil) -> GatewayError {
        GatewayError(code: .unsupported, message: message, field: field)
    }
    public static func internalError(_ message: String) -> GatewayError {
        GatewayError(code: .internal, message: message)
    }
}
