import Crypto
import Logging
import PaymentCore
import PostgresNIO

extension Payments {
    /// The payment core as the server runs it: the simulated issuer behind a timeout and a
    /// circuit breaker, and a fingerprint key derived from the secret key. No Redis on the checkout:
    /// PostgreSQL decides.
    static func make(
        configuration: AppConfiguration, database: PostgresClient, reads: ReplicaReads? = nil, observer: PaymentsObserver = .none,
        logger: Logger
    ) -> Payments {
        let settings = configuration.payments
        let simulator = IssuerSimulator(
            database: database,
            settings: .init(latency: .milliseconds(settings.issuerLatencyMilliseconds), failureRate: settings.issuerFailureRate),
            batches: .init(inFlight: settings.batchesInFlight, maximumBatch: settings.batchMaximum),
            logger: logger
        )
        let breaker = CircuitBreaker(
            settings: .init(failureThreshold: settings.breakerThreshold, coolDown: .seconds(settings.breakerCoolDownSeconds)))
        return Payments(
            database: database,
            issuers: IssuerCatalogCache(database: database, logger: logger),
            issuer: GuardedIssuer(gateway: simulator, breaker: breaker, timeout: .milliseconds(settings.issuerTimeoutMilliseconds)),
            fingerprintKey: Self.fingerprintKey(secret: configuration.secretKey),
            settings: .init(
                maximumAmount: settings.maximumAmount, recoverAfter: .seconds(settings.recoverAfterSeconds),
                batches: .init(inFlight: settings.batchesInFlight, maximumBatch: settings.batchMaximum)
            ),
            logger: logger,
            observer: observer,
            reads: reads
        )
    }

    /// A key used only for card fingerprints, so the secret key itself never touches card data.
    static func fingerprintKey(secret: [UInt8]) -> SymmetricKey {
        let derived = HMAC<SHA256>.authenticationCode(for: Array("kassa card fingerprint v1".utf8), using: SymmetricKey(data: secret))
        return SymmetricKey(data: Array(derived))
    }
}
