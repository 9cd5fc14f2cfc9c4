/// What Kassa asks an issuer to do. The card number travels only in this request.
public struct AuthorizationRequest: Sendable {
    /// Kassa's id for this attempt; the issuer keys its decision on it.
    public let attemptID: String
    public let issuerID: String
    public let amount: Money
    public let card: CardDetails

    public init(attemptID: String, issuerID: String, amount: Money, card: CardDetails) {
        self.attemptID = attemptID
        self.issuerID = issuerID
        self.amount = amount
        self.card = card
    }
}

/// An issuer's answer to one attempt.
public enum AuthorizationOutcome: Sendable, Equatable {
    case approved(authorizationCode: String)
    case declined(DeclineCode)
}

/// Transport-level trouble: the issuer did not give an answer.
public enum IssuerError: Error, Sendable, Equatable {
    case unavailable
    case timedOut
}

/// A card issuer (or an acquirer in front of many). The simulator is the one implementation
/// today; a real acquirer replaces it behind the same two calls.
public protocol IssuerGateway: Sendable {
    /// Decides the attempt. Calling it again with the same attempt id returns the first decision.
    func authorize(_ request: AuthorizationRequest) async throws -> AuthorizationOutcome

    /// The decision on an attempt, for recovery. When the issuer never decided it, the attempt
    /// is voided (a later `authorize` of it is declined) and `.declined(.issuerUnavailable)` is
    /// returned, so the answer never changes afterwards.
    func resolve(attemptID: String, issuerID: String) async throws -> AuthorizationOutcome
}
