import Logging
import PostgresNIO

/// Simulated card issuers that decide by test card number, as Stripe's test cards do.
///
/// It keeps its decisions in its own table (`simulator_authorizations`), standing in for the
/// issuer's system of record: one decision per attempt id, so a retried or recovered attempt
/// gets the same answer, and an attempt Kassa gave up on stays given up.
public struct IssuerSimulator: IssuerGateway {
    public struct Settings: Sendable, Equatable {
        /// Added before every decision, to make the issuer feel remote.
        public var latency: Duration
        /// The share of calls (0...1) that fail as if the issuer were unreachable, before deciding.
        public var failureRate: Double

        public init(latency: Duration = .zero, failureRate: Double = 0) {
            self.latency = latency
            self.failureRate = failureRate
        }
    }

    let database: PostgresClient
    let settings: Settings
    let logger: Logger
    /// Decisions are written in batches, each in its own durable commit, like Kassa's own writes:
    /// this stands in for another company's system, which would not be one row per round trip.
    private let decisions: Batcher<DecisionItem, DecisionRow>

    public init(database: PostgresClient, settings: Settings = .init(), batches: BatchSettings = .init(), logger: Logger) {
        self.database = database
        self.settings = settings
        self.logger = logger
        self.decisions = Batcher(name: "decision", settings: batches, isItemError: isItemError) { items in
            try await database.batchTransaction(logger: logger) { connection in
                var rows: [DecisionRow?] = []
                rows.reserveCapacity(items.count)
                for try await row in try await connection.execute(DecisionBatch(items: items), logger: logger) { rows.append(row) }
                // A decision someone else committed while the batch waited for it is not in the batch
                // statement's snapshot; a new statement has a new one.
                var decided: [DecisionRow] = []
                for (item, row) in zip(items, rows) {
                    if let row {
                        decided.append(row)
                        continue
                    }
                    let again = try await connection.query(
                        "SELECT outcome, decline_code, authorization_code FROM simulator_authorizations WHERE attempt_id = \(item.attemptID)",
                        logger: logger
                    )
                    var found: DecisionRow?
                    for try await (outcome, decline, authorization) in again.decode((String, String?, String?).self) {
                        found = DecisionRow(outcome: outcome, declineCode: decline, authorizationCode: authorization)
                    }
                    guard let found else { throw IssuerError.unavailable }
                    decided.append(found)
                }
                return decided
            }
        }
    }

    /// The simulator's rule, without I/O: which test card gets which answer.
    public static func decide(_ card: CardDetails) -> AuthorizationOutcome {
        switch card.number {
        case "4000000000000002": .declined(.cardDeclined)
        case "4000000000009995": .declined(.insufficientFunds)
        case "4000000000000069": .declined(.expiredCard)
        case "4000000000000127": .declined(.incorrectCVC)
        case "4000000000000119": .declined(.processingError)
        default: .approved(authorizationCode: Identifier.make("auth").suffix(6).uppercased())
        }
    }

    public func authorize(_ request: AuthorizationRequest) async throws -> AuthorizationOutcome {
        if settings.latency > .zero { try await Task.sleep(for: settings.latency) }
        if settings.failureRate > 0, Double.random(in: 0..<1) < settings.failureRate { throw IssuerError.unavailable }
        let decision = Self.decide(request.card)
        let (outcome, code, authorization): (Recorded, String?, String?) =
            switch decision {
            case .approved(let authorizationCode): (.approved, nil, authorizationCode)
            case .declined(let decline): (.declined, decline.rawValue, nil)
            }
        return try await record(
            attemptID: request.attemptID, issuerID: request.issuerID, outcome: outcome, declineCode: code,
            authorizationCode: authorization, amount: request.amount.minorUnits, currency: request.amount.currency.code
        )
    }

    public func resolve(attemptID: String, issuerID: String) async throws -> AuthorizationOutcome {
        try await record(
            attemptID: attemptID, issuerID: issuerID, outcome: .voided, declineCode: nil, authorizationCode: nil, amount: nil, currency: nil)
    }

    /// Writes the decision unless one exists, then returns whichever is stored.
    private func record(
        attemptID: String, issuerID: String, outcome: Recorded, declineCode: String?, authorizationCode: String?,
        amount: Int64?, currency: String?
    ) async throws -> AuthorizationOutcome {
        let row = try await decisions.submit(
            DecisionItem(
                attemptID: attemptID, issuerID: issuerID, outcome: outcome.rawValue, declineCode: declineCode ?? "",
                authorizationCode: authorizationCode ?? "",
                amount: amount ?? 0, currency: currency ?? ""
            )
        )
        return Self.outcome((row.outcome, row.declineCode, row.authorizationCode))
    }

    /// A decision as the simulator's table stores it (`simulator_decisions.outcome`).
    enum Recorded: String {
        case approved, declined
        /// Resolved without an answer: the payer's attempt never reached the issuer's decision.
        case voided
    }

    private static func outcome(_ row: (String, String?, String?)) -> AuthorizationOutcome {
        switch Recorded(rawValue: row.0) {
        case .approved: .approved(authorizationCode: row.2 ?? "")
        case .declined: .declined(row.1.flatMap(DeclineCode.init(rawValue:)) ?? .cardDeclined)
        case .voided, nil: .declined(.issuerUnavailable)
        }
    }
}
