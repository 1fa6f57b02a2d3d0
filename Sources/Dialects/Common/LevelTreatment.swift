import StockCore

/// What becomes of a level command at a backend of one dialect, decided by the backend's
/// declared capabilities alone: the one rule `RemoteBackend` follows, `stockgate translate
/// --explain` shows and the loss report tabulates (docs/levels.md).
public enum LevelTreatment: Sendable, Equatable {
    /// The backend takes it as a level and reads and changes the balance itself.
    case native
    /// The gateway reads the backend's balance, then sends the difference as one movement:
    /// serialized per product and location by StockGate, not atomic at the backend.
    case readThenMove
    /// A relative change with no expected level: a plain movement, no read.
    case movement
    /// The backend cannot carry it.
    case refused(GatewayError)

    /// The treatment of `item` (a level movement) at a backend speaking `codec`.
    public static func of(_ item: Movement, codec: any OutboundCodec) -> LevelTreatment {
        guard let level = item.level else { return .movement }
        if codec.capabilities.nativeLevels { return .native }
        guard level.target != nil || level.expected != nil else { return .movement }
        guard codec.capabilities.balanceReads else {
            return .refused(
                GatewayError.unsupported(
                    "a \(codec.dialect) backend cannot read balances, so a level cannot become a movement there: send a relative change without an expected level",
                    field: "level"))
        }
        return .readThenMove
    }

    /// The treatment in a few words, for people.
    public var words: String {
        switch self {
        case .native: "sent as a level: the backend reads and changes it itself"
        case .readThenMove:
            "read, then moved: the backend's balance is read and the difference sent as one movement (serialized by StockGate; a change made at the backend by another path in between is not seen)"
        case .movement: "sent as a movement: a relative change needs no read"
        case .refused(let error): "refused: \(error.message)"
        }
    }

    /// The treatment in a table cell.
    public var cell: String {
        switch self {
        case .native: "native"
        case .readThenMove: "read, then moved"
        case .movement: "a movement"
        case .refused: "refused"
        }
    }
}
