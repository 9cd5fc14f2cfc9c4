import App
import Crypto
import Foundation
import Logging
import PaymentCore
import PostgresNIO
import RedisClient
import Testing

/// The payment core against a real PostgreSQL database of its own (and the shared test Redis),
/// for tests that drive `Payments` directly. Every run ends by checking the ledger balances.
struct CoreHarness: Sendable {
    let client: PostgresClient
    let databaseName: String
    let issuers: IssuerCatalogCache
    let redis: RedisClient
    let logger = Logger(label: "kassa.tests.core")

    static let today = (year: 2026, month: 11)

    /// Runs `body` with a fresh migrated database, then checks every ledger posting sums to zero.
    static func run(_ body: @Sendable (CoreHarness) async throws -> Void) async throws {
        let name = try await TestServices.makeDatabase()
        var configuration = TestServices.admin
        configuration.database = name
        let client = PostgresClient(
            configuration: .init(
                host: configuration.host, port: configuration.port, username: configuration.username,
                password: configuration.password, database: name, tls: .disable
            ),
            backgroundLogger: TestServices.logger
        )
        var redisConfiguration = TestServices.redis
        redisConfiguration.maximumConnections = 8
        let redis = RedisClient(configuration: redisConfiguration)
        let harness = CoreHarness(
            client: client, databaseName: name, issuers: IssuerCatalogCache(database: client, logger: TestServices.logger), redis: redis
        )
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await client.run() }
                defer { group.cancelAll() }
                try await body(harness)
                let imbalances = try await harness.ledgerImbalances()
                #expect(imbalances.isEmpty, "ledger does not sum to zero: \(imbalances)")
            }
        } catch {
            await redis.shutdown()
            await TestServices.dropDatabase(name)
            throw error
        }
        await redis.shutdown()
        await TestServices.dropDatabase(name)
    }

    func payments(
        gateway: (any IssuerGateway)? = nil,
        timeout: Duration = .seconds(5),
        breaker: CircuitBreaker = CircuitBreaker(),
        locks: Bool = true,
        settings: Payments.Settings = .init(),
        fault: @escaping @Sendable (Payments.Step) throws -> Void = { _ in }
    ) -> Payments {
        Payments(
            database: client,
            issuers: issuers,
            issuer: GuardedIssuer(gateway: gateway ?? simulator(), breaker: breaker, timeout: timeout),
            locks: locks ? RedisPaymentLocks(redis: redis, prefix: "t:\(databaseName):") : nil,
            fingerprintKey: SymmetricKey(data: Array(repeating: UInt8(3), count: 32)),
            settings: settings,
            logger: logger,
            fault: fault
        )
    }

    func simulator(latency: Duration = .zero) -> IssuerSimulator {
        IssuerSimulator(database: client, settings: .init(latency: latency), logger: logger)
    }

    /// A merchant account accepting the given issuers; returns its id.
    func merchant(
        _ methods: [(String, [String])] = [("iss_test_visa", ["EUR", "USD"]), ("iss_test_mastercard", ["EUR"]), ("iss_test_amex", ["EUR"])]
    ) async throws -> String {
        let accountID = Identifier.make("acct")
        try await client.query("INSERT INTO accounts (id, name) VALUES (\(accountID), 'Test Merchant')", logger: logger)
        let store = PaymentMethods(database: client, issuers: issuers, logger: logger)
        for (issuer, currencies) in methods {
            _ = try await store.add(accountID: accountID, issuerID: issuer, currencies: currencies)
        }
        return accountID
    }

    func link(_ accountID: String, amount: Int64 = 2500, currency: Currency = .eur, maxUses: Int = 1) async throws -> PaymentLink {
        try await payments().links.create(
            accountID: accountID,
            .init(amount: Money(minorUnits: amount, currency: currency), description: "Coffee subscription", maxUses: maxUses)
        )
    }

    static func card(_ number: String, cvc: String? = nil) -> CardDetails {
        let network = CardNetwork.detect(number) ?? .visa
        let code = cvc ?? (network == .amex ? "1234" : "123")
        return try! CardDetails.check(number: number, expMonth: "12", expYear: "2030", cvc: code, holderName: "Ada Lovelace", today: today).get()
    }

    func checkout(_ link: PaymentLink, card number: String = "4242424242424242", token: String = Identifier.make("tok")) -> Payments.LinkCheckout {
        Payments.LinkCheckout(linkID: link.id, attemptToken: token, card: Self.card(number), email: "payer@example.com")
    }

    /// One integer from SQL.
    func count(_ query: PostgresQuery) async throws -> Int {
        let rows = try await client.query(query, logger: logger)
        var value: Int64 = 0
        for try await number in rows.decode(Int64.self) { value = number }
        return Int(value)
    }

    /// Postings or currencies whose entries do not sum to zero.
    func ledgerImbalances() async throws -> [String] {
        let rows = try await client.query(
            """
            SELECT 'currency ' || currency FROM ledger_entries GROUP BY currency HAVING sum(amount) <> 0
            UNION ALL
            SELECT 'posting ' || posting_id FROM ledger_entries GROUP BY posting_id, currency HAVING sum(amount) <> 0
            """,
            logger: logger
        )
        var problems: [String] = []
        for try await text in rows.decode(String.self) { problems.append(text) }
        return problems
    }
}

/// An issuer whose network fails on demand: it can decide and then lose the answer, or
/// never answer at all.
final class FlakyIssuer: IssuerGateway, @unchecked Sendable {
    enum Mode { case down, decidesThenLosesAnswer, works }
    let inner: any IssuerGateway
    private let lock = NSLock()
    private var _mode: Mode
    private(set) var calls = 0

    init(inner: any IssuerGateway, mode: Mode) {
        self.inner = inner
        self._mode = mode
    }

    var mode: Mode {
        get { lock.withLock { _mode } }
        set { lock.withLock { _mode = newValue } }
    }

    func authorize(_ request: AuthorizationRequest) async throws -> AuthorizationOutcome {
        lock.withLock { calls += 1 }
        switch mode {
        case .down: throw IssuerError.unavailable
        case .decidesThenLosesAnswer:
            _ = try await inner.authorize(request)
            throw IssuerError.timedOut
        case .works: return try await inner.authorize(request)
        }
    }

    func resolve(attemptID: String, issuerID: String) async throws -> AuthorizationOutcome {
        switch mode {
        case .down, .decidesThenLosesAnswer: throw IssuerError.unavailable
        case .works: return try await inner.resolve(attemptID: attemptID, issuerID: issuerID)
        }
    }
}

extension Result where Failure == any Error {
    /// The outcome of an async throwing call, for collecting results from a task group.
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
