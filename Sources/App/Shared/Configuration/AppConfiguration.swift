import Foundation
import Logging
import PaymentCore
import RedisClient

/// Everything Kassa reads from its environment, read once at start-up.
///
/// Nothing else in the code reads the environment: tests build this struct directly.
public struct AppConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// The public address payers and merchants use; decides the `Secure` cookie flag and signed URLs.
    public var baseURL: String
    public var database: DatabaseConfiguration
    /// A streaming replica for the merchants' lists (`ReplicaReads`); nil: every read on the primary.
    public var replica: DatabaseConfiguration?
    public var replicaWaitMilliseconds = 250
    public var replicaMaximumLagSeconds = 30
    public var redis: RedisConfiguration
    /// Prefix of every Redis key this process writes (tests use one per test).
    public var redisKeyPrefix: String
    /// `kid` → secret; the first signs payment links, all verify.
    public var linkKeys: [LinkKey]
    /// 32 bytes: CSRF tokens, card fingerprints, secrets encrypted at rest.
    public var secretKey: [UInt8]
    public var logLevel: Logger.Level
    public var sessionIdleTimeoutSeconds: Int
    /// Trust `X-Forwarded-For` for the client address (only behind a proxy you run).
    public var trustForwardedFor: Bool
    public var templatesDirectory: String
    public var publicDirectory: String
    public var rateLimits: RateLimitSettings
    public var payments: PaymentSettings
    /// How long `/ready` waits for PostgreSQL and Redis before calling them down.
    public var readinessTimeout: Duration = .seconds(2)
    /// Days an authorization waits for its capture before the worker voids it.
    public var authorizationDays = Payments.defaultAuthorizationDays
    /// How often the consumers of the transaction log (ledger, totals, notifications, webhooks) and
    /// the webhook and email senders look for work when idle, in milliseconds (0: off, as in tests).
    public var consumerPollMilliseconds: Int
    /// Run Swift concurrency's tasks on NIO's event loops (one pool of threads, no hops between
    /// two); see BENCHMARKS.md.
    public var nioExecutor: Bool
    /// Let webhook endpoints on loopback and private addresses (local development only).
    public var webhooksAllowPrivate: Bool
    /// Server-Sent Events streams one signed-in session and one client address may hold at once.
    public var liveStreamsPerSession = LiveFeed.Caps.defaults.perSession
    public var liveStreamsPerAddress = LiveFeed.Caps.defaults.perAddress
    var liveStreams: LiveFeed.Caps { LiveFeed.Caps(perSession: liveStreamsPerSession, perAddress: liveStreamsPerAddress) }
    /// A new request's head must be in within this long of its first byte (or of the connection
    /// opening); a connection idle between requests is closed after `idleTimeout`.
    public var headerReadTimeout: Duration = .seconds(10)
    public var idleTimeout: Duration = .seconds(60)
    /// Where notification emails go out; nil sends none.
    public var smtp: SMTPConfiguration?
    /// What `/metrics` asks for; nil serves it only on a development server (`servesOpenMetrics`).
    public var metricsToken: String?
    /// After SIGTERM, how long /ready says 503 before the server shuts down.
    public var drainSeconds = 0
    /// Where spans go over OTLP/HTTP; nil: none are sent.
    public var otlpEndpoint: String?
    /// Resident memory one process may use, MiB (the RSS alert compares with it).
    public var memoryBudgetMegabytes = 1024
    /// No token, and the base URL is plain http on loopback: `make run`'s server, which anyone
    /// able to reach is already on this machine.
    var servesOpenMetrics: Bool {
        guard metricsToken == nil, let url = URLComponents(string: baseURL), url.scheme?.lowercased() == "http", let host = url.host?.lowercased()
        else { return false }
        return host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }
    /// Tests only: render every page with swift-mustache as well and log a critical line where the
    /// two differ (`PageTemplates` must keep its bytes).
    public var compareRendering = false

    /// The payment core's knobs: the simulated issuer, its guard rails and the recovery worker.
    public struct PaymentSettings: Sendable, Equatable {
        public var maximumAmount: Int64
        public var issuerLatencyMilliseconds: Int
        /// Share (0...1) of issuer calls that fail as if the issuer were unreachable.
        public var issuerFailureRate: Double
        public var issuerTimeoutMilliseconds: Int
        /// Consecutive issuer failures that open its circuit, and how long it stays open.
        public var breakerThreshold: Int
        public var breakerCoolDownSeconds: Int
        /// A payment still `processing` after this long is resolved by asking the issuer.
        public var recoverAfterSeconds: Int
        /// How often the recovery worker looks (0 turns it off, as tests do).
        public var recoveryIntervalSeconds: Int
        /// Group commit: batches in flight per transition, and items per batch.
        public var batchesInFlight: Int
        public var batchMaximum: Int

        public init(
            maximumAmount: Int64, issuerLatencyMilliseconds: Int, issuerFailureRate: Double, issuerTimeoutMilliseconds: Int,
            breakerThreshold: Int, breakerCoolDownSeconds: Int, recoverAfterSeconds: Int, recoveryIntervalSeconds: Int,
            batchesInFlight: Int, batchMaximum: Int
        ) {
            self.maximumAmount = maximumAmount
            self.issuerLatencyMilliseconds = issuerLatencyMilliseconds
            self.issuerFailureRate = issuerFailureRate
            self.issuerTimeoutMilliseconds = issuerTimeoutMilliseconds
            self.breakerThreshold = breakerThreshold
            self.breakerCoolDownSeconds = breakerCoolDownSeconds
            self.recoverAfterSeconds = recoverAfterSeconds
            self.recoveryIntervalSeconds = recoveryIntervalSeconds
            self.batchesInFlight = batchesInFlight
            self.batchMaximum = batchMaximum
        }

        /// `KASSA_*`'s defaults (`AppConfiguration.settings`).
        public static var defaults: Self { AppConfiguration.defaults.payments }
    }

    public struct LinkKey: Sendable, Equatable {
        public var id: String
        public var secret: [UInt8]
        public init(id: String, secret: [UInt8]) {
            self.id = id
            self.secret = secret
        }
    }

    /// Where PostgreSQL is (PaymentCore's, shared with the tests' harness).
    public typealias DatabaseConfiguration = PaymentCore.DatabaseConfiguration

    /// How many attempts a client may make in a window, per kind of action.
    public struct RateLimitSettings: Sendable, Equatable {
        public var loginPerIP: RateLimit
        public var loginPerEmail: RateLimit
        public var signupPerIP: RateLimit
        /// `/v1` requests per API key, and per account across its keys (an account may have its own).
        public var apiPerKey: RateLimit
        public var apiPerAccount: RateLimit
        /// Charge attempts on the payer's pages per client address, per link or form, and per card
        /// (a decline counts twice): `PayerLimits`.
        public var payerPerIP: RateLimit
        public var payerPerSubject: RateLimit
        public var payerPerCard: RateLimit

        public init(
            loginPerIP: RateLimit, loginPerEmail: RateLimit, signupPerIP: RateLimit, apiPerKey: RateLimit, apiPerAccount: RateLimit,
            payerPerIP: RateLimit, payerPerSubject: RateLimit, payerPerCard: RateLimit
        ) {
            self.loginPerIP = loginPerIP
            self.loginPerEmail = loginPerEmail
            self.signupPerIP = signupPerIP
            self.apiPerKey = apiPerKey
            self.apiPerAccount = apiPerAccount
            self.payerPerIP = payerPerIP
            self.payerPerSubject = payerPerSubject
            self.payerPerCard = payerPerCard
        }

        /// `KASSA_RATE_*`'s defaults (`AppConfiguration.settings`).
        public static var defaults: Self { AppConfiguration.defaults.rateLimits }
    }

    public var isSecure: Bool { baseURL.lowercased().hasPrefix("https://") }

    /// Every setting at its default (`AppConfiguration.settings`), with the given services and secrets.
    public init(database: DatabaseConfiguration, redis: RedisConfiguration, linkKeys: [LinkKey], secretKey: [UInt8]) {
        self = Self.defaults
        self.database = database
        self.redis = redis
        self.linkKeys = linkKeys
        self.secretKey = secretKey
    }

    /// Nothing set: what `settings` fill in.
    init(unset: Void) {
        host = ""
        port = 0
        baseURL = ""
        database = DatabaseConfiguration(host: "", port: 0, username: "", password: nil, database: "", maximumConnections: 1)
        redis = RedisConfiguration()
        redisKeyPrefix = ""
        linkKeys = []
        secretKey = []
        logLevel = .info
        sessionIdleTimeoutSeconds = 0
        trustForwardedFor = false
        templatesDirectory = ""
        publicDirectory = ""
        rateLimits = RateLimitSettings(
            loginPerIP: .init(limit: 1, windowSeconds: 1), loginPerEmail: .init(limit: 1, windowSeconds: 1),
            signupPerIP: .init(limit: 1, windowSeconds: 1), apiPerKey: .init(limit: 1, windowSeconds: 1),
            apiPerAccount: .init(limit: 1, windowSeconds: 1), payerPerIP: .init(limit: 1, windowSeconds: 1),
            payerPerSubject: .init(limit: 1, windowSeconds: 1), payerPerCard: .init(limit: 1, windowSeconds: 1)
        )
        payments = PaymentSettings(
            maximumAmount: 0, issuerLatencyMilliseconds: 0, issuerFailureRate: 0, issuerTimeoutMilliseconds: 0, breakerThreshold: 0,
            breakerCoolDownSeconds: 0, recoverAfterSeconds: 0, recoveryIntervalSeconds: 0, batchesInFlight: 0, batchMaximum: 0
        )
        consumerPollMilliseconds = 0
        nioExecutor = false
        webhooksAllowPrivate = false
        smtp = nil
    }
}

/// Every bad or missing variable, reported in one line.
public struct ConfigurationError: Error, CustomStringConvertible {
    public var problems: [String]
    public var description: String { "configuration: " + problems.joined(separator: "; ") }
}

/// A rate: at most `limit` attempts per `windowSeconds`.
public struct RateLimit: Sendable, Equatable {
    public var limit: Int
    public var windowSeconds: Int
    public init(limit: Int, windowSeconds: Int) {
        self.limit = limit
        self.windowSeconds = windowSeconds
    }

    /// Parses `N/SECONDS`, e.g. `10/300`.
    init?(_ text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let limit = Int(parts[0]), let window = Int(parts[1]), limit > 0, window > 0 else { return nil }
        self.init(limit: limit, windowSeconds: window)
    }
}
