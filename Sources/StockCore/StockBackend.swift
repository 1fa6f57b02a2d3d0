/// Something that carries out canonical commands: the embedded ledger, or a remote backend
/// reached through an outbound codec.
public protocol StockBackend: Sendable {
    /// Carries out one command.
    /// - Parameters:
    ///   - command: what to do.
    ///   - facts: the request's dialect, id and idempotency key, recorded in the journal.
    /// - Returns: the outcome; a refusal is thrown as a `GatewayError`.
    func execute(_ command: Command, facts: RequestFacts) async throws -> Outcome
}
