import HTTPTypes
import StockCore

extension GatewayError.Code {
    /// The HTTP status a failure gets in dialects whose errors travel as HTTP statuses
    /// (StockGate's own API, Colleqtive, Zettle; StoreFeeder overrides one).
    public var httpStatus: HTTPResponse.Status {
        switch self {
        case .malformed, .missing, .invalidValue, .unknownField: return .badRequest
        case .notFound, .noSuchEndpoint: return .notFound
        case .methodNotAllowed: return .methodNotAllowed
        case .insufficientStock, .conflict: return .conflict
        case .unsupported: return .unprocessableContent
        case .unauthorized: return .unauthorized
        case .forbidden: return .forbidden
        case .tooLarge: return .contentTooLarge
        case .tooManyRequests: return .tooManyRequests
        case .requestTimeout: return .requestTimeout
        case .backendFailure: return .badGateway
        case .unavailable: return .serviceUnavailable
        case .unknownOutcome: return .gatewayTimeout
        default: return .internalServerError
        }
    }
}

extension GatewayError {
    /// The error with its canonical field (`product`, `from`, `to`, `quantity`) renamed to the
    /// dialect's own path for that item; other fields are kept.
    public func renamingField(_ names: [String: String]) -> GatewayError {
        guard let field, let renamed = names[field] else { return self }
        return withField(renamed)
    }
}

extension BatchOutcome {
    /// All failures as one error, for dialects that answer a whole batch with one envelope:
    /// the first failure's code and field, every failure's field and message in the text.
    /// - Parameter naming: renames an item's error into the dialect's terms (its index is given).
    public func combinedFailure(naming: (Int, GatewayError) -> GatewayError) -> GatewayError? {
        let named = failures.map { naming($0.index, $0.error) }
        guard let first = named.first else { return nil }
        let message = named.map { error in error.field.map { "\($0): \(error.message)" } ?? error.message }
            .joined(separator: "; ")
        return GatewayError(code: first.code, message: message, field: first.field)
    }
}

/// Text of a JSON number for a quantity as a vendor expects it: an integer stays an integer
/// (`42`), a fraction keeps its exact digits (`2.5`).
public func jsonNumber(_ quantity: Quantity) -> JSONValue {
    .number(quantity.description)
}
