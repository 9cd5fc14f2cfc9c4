import Crypto
import Foundation
import Logging
import PaymentCore
import PostgresNIO
import RedisClient

/// The payment core against a real PostgreSQL database of its own (and the shared test Redis),
/// for tests that drive `Payments` directly. Every run ends by bringing the ledger up to date and
/// auditing it against the events and the payments.
public struct CoreHarness: Sendable {
    public let client: PostgresClient
    public let databaseName: String
    public let issuers: IssuerCatalogCache
    public let redis: RedisClient
    public let logger = Logger(label: "kassa.tests.core")

    public static let today = (year: 2026, month: 11)

    /// Runs `body` with a fresh migrated database, then checks every ledger posting sums to zero.
    public static func run(_ body: @Sendable (CoreHarness) async throws -> Void) async throws {
        try await TestServices.described { try await TestSlots.run { try await runInSlot(body) } }
    }

    private static func runInSlot(_ body: @Sendable (CoreHarness) async throws -> Void) async throws {
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
                try await harness.catchUp()
                let audit = try await harness.payments().ledger.audit()
                guard audit.holds else { throw LedgerDoesNotHold(audit: audit) }
            }
        } catch {
            await redis.shutdown()
            throw error
        }
        await redis.shutdown()
    }

    /// `timeout` is the issuer's: 30 s, because a machine running every test at once has taken over
    /// 5 s (the server's default) for the simulator's decision batch; tests of the deadline pass theirs.
    public func payments(
        gateway: (any IssuerGateway)? = nil,
        timeout: Duration = .seconds(30),
        breaker: CircuitBreaker = CircuitBreaker(),
        settings: Payments.Settings = .init(),
        fault: @escaping @Sendable (Payments.Step) throws -> Void = { _ in }
    ) -> Payments {
        Payments(
            database: client,
            issuers: issuers,
            issuer: GuardedIssuer(gateway: gateway ?? simulator(), breaker: breaker, timeout: timeout),
            fingerprintKey: SymmetricKey(data: Array(repeating: UInt8(3), count: 32)),
            settings: settings,
            logger: logger,
            fault: fault
        )
    }

    public func simulator(latency: Duration = .zero) -> IssuerSimulator {
        IssuerSimulator(database: client, settings: .init(latency: latency), logger: logger)
    }

    /// A merchant account accepting the given issuers; returns its id.
    public func merchant(
        _ methods: [(String, [String])] = [("iss_test_visa", ["EUR", "USD"]), ("iss_test_mastercard", ["EUR"]), ("iss_test_amex", ["EUR"])]
    ) async throws -> AccountID {
        let accountID = AccountID.make()
        try await client.query("INSERT INTO accounts (id, name) VALUES (\(accountID), 'Test Merchant')", logger: logger)
        let store = PaymentMethods(database: client, issuers: issuers, logger: logger)
        for (issuer, currencies) in methods {
            _ = try await store.add(accountID: accountID, issuerID: issuer, currencies: currencies)
        }
        return accountID
    }

    public func link(_ accountID: AccountID, amount: Int64 = 2500, currency: Currency = .eur, maxUses: Int = 1) async throws -> PaymentLink {
        try await payments().links.create(
            accountID: accountID,
            .init(amount: Money(minorUnits: amount, currency: currency), description: "Coffee subscription", maxUses: maxUses)
        )
    }

    public static func card(_ number: String, cvc: String? = nil) -> CardDetails {
        let network = CardNetwork.detect(number) ?? .visa
        let code = cvc ?? (network == .amex ? "1234" : "123")
        return try! CardDetails.check(number: number, expMonth: "12", expYear: "2030", cvc: code, holderName: "Ada Lovelace", today: today).get()
    }

    public func checkout(_ link: PaymentLink, card number: String = "4242424242424242", token: String = Identifier.make("tok")) -> CheckoutRequest {
        CheckoutRequest(subject: .link(link), attemptToken: token, card: Self.card(number), email: "payer@example.com")
    }

    /// Runs the ledger and totals consumers until they have read every committed event.
    public func catchUp() async throws {
        try await TestServices.catchUp(client)
    }

    /// Runs a consumer's `pass` until it has read every committed event; returns how many it read.
    @discardableResult
    public func drain(_ consumer: EventLog.Consumer, _ pass: () async throws -> Int) async throws -> Int {
        let log = EventLog(database: client, logger: logger)
        var total = 0
        let deadline = ContinuousClock.now.advanced(by: .seconds(180))
        while ContinuousClock.now < deadline {
            let read = try await pass()
            total += read
            if read == 0, try await log.lag(of: consumer).waitingSince == nil { return total }
            if read == 0 { try await Task.sleep(for: .milliseconds(20)) }
        }
        throw TestServices.HeldBack(
            reason: "the \(consumer.rawValue) consumer did not catch up in 180 s (\(total) read)", open: await TestServices.openTransactions())
    }

    /// One integer from SQL.
    public func count(_ query: PostgresQuery) async throws -> Int {
        let rows = try await client.query(query, logger: logger)
        var value: Int64 = 0
        for try await number in rows.decode(Int64.self) { value = number }
        return Int(value)
    }

    /// One text from SQL, or nil.
    public func text(_ query: PostgresQuery) async throws -> String? {
        let rows = try await client.query(query, logger: logger)
        for try await value in rows.decode(String.self) { return value }
        return nil
    }
}

/// An issuer whose network fails on demand: it can decide and then lose the answer, or
/// never answer at all.
public final class FlakyIssuer: IssuerGateway, @unchecked Sendable {
    public enum Mode { case down, decidesThenLosesAnswer, works }
    public let inner: any IssuerGateway
    private let lock = NSLock()
    private var _mode: Mode
    public private(set) var calls = 0

    public init(inner: any IssuerGateway, mode: Mode) {
        self.inner = inner
        self._mode = mode
    }

    public var mode: Mode {
        get { lock.withLock { _mode } }
        set { lock.withLock { _mode = newValue } }
    }

    public func authorize(_ request: AuthorizationRequest) async throws -> AuthorizationOutcome {
        lock.withLock { calls += 1 }
        switch mode {
        case .down: throw IssuerError.unavailable
        case .decidesThenLosesAnswer:
            _ = try await inner.authorize(request)
            throw IssuerError.timedOut
        case .works: return try await inner.authorize(request)
        }
    }

    public func resolve(attemptID: String, issuerID: String) async throws -> AuthorizationOutcome {
        switch mode {
        case .down, .decidesThenLosesAnswer: throw IssuerError.unavailable
        case .works: return try await inner.resolve(attemptID: attemptID, issuerID: issuerID)
        }
    }
}

extension Result where Failure == any Error {
    /// The outcome of an async throwing call, for collecting results from a task group.
    public init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

/// What a checkout came to when a test expected a payment.
/// Thrown by `CoreHarness.run` when the ledger audit fails after a test's body.
public struct LedgerDoesNotHold: Error, CustomStringConvertible {
    public let audit: Ledger.Audit
    public var description: String { "the ledger does not hold: \(audit)" }
}

public struct Refused: Error, CustomStringConvertible {
    public let outcome: CheckoutOutcome
    public var description: String { "the checkout was refused: \(outcome)" }
}

extension Payments {
    /// Runs the checkout and returns its payment as stored (this submit's or the replayed one);
    /// throws `Refused` for any other outcome.
    public func pay(_ request: CheckoutRequest) async throws -> Payment {
        let outcome = try await checkout.pay(request)
        switch outcome {
        case .paid(let receipt), .replayed(let receipt):
            guard let payment = try await payment(id: receipt.paymentID) else { throw PaymentError.notFound }
            return payment
        case .linkClosed, .formClosed, .notFound, .cardNotAccepted, .issuerUnavailable, .amountOutOfRange, .attemptInProgress:
            throw Refused(outcome: outcome)
        }
    }
}
