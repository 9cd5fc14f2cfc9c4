import Foundation
import Logging
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
    /// How often the consumers of the transaction log (ledger, totals, notifications, webhooks) and
    /// the webhook and email senders look for work when idle, in milliseconds (0: off, as in tests).
    public var consumerPollMilliseconds: Int = 100
    /// Run Swift concurrency's tasks on NIO's event loops (one pool of threads, no hops between
    /// two); see BENCHMARKS.md.
    public var nioExecutor: Bool = true
    /// Let webhook endpoints on loopback and private addresses (local development only).
    public var webhooksAllowPrivate: Bool = false
    /// Where notification emails go out; nil sends none.
    public var smtp: SMTPConfiguration? = nil

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
        public var batchesInFlight: Int = 1
        public var batchMaximum: Int = 256

        public init(
            maximumAmount: Int64 = 99_999_999, issuerLatencyMilliseconds: Int = 0, issuerFailureRate: Double = 0,
            issuerTimeoutMilliseconds: Int = 5000, breakerThreshold: Int = 5, breakerCoolDownSeconds: Int = 30,
            recoverAfterSeconds: Int = 60, recoveryIntervalSeconds: Int = 15
        ) {
            self.maximumAmount = maximumAmount
            self.issuerLatencyMilliseconds = issuerLatencyMilliseconds
            self.issuerFailureRate = issuerFailureRate
            self.issuerTimeoutMilliseconds = issuerTimeoutMilliseconds
            self.breakerThreshold = breakerThreshold
            self.breakerCoolDownSeconds = breakerCoolDownSeconds
            self.recoverAfterSeconds = recoverAfterSeconds
            self.recoveryIntervalSeconds = recoveryIntervalSeconds
        }
    }

    public struct LinkKey: Sendable, Equatable {
        public var id: String
        public var secret: [UInt8]
        public init(id: String, secret: [UInt8]) {
            self.id = id
            self.secret = secret
        }
    }

    public struct DatabaseConfiguration: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var username: String
        public var password: String?
        public var database: String
        public var maximumConnections: Int

        public init(host: String, port: Int, username: String, password: String?, database: String, maximumConnections: Int) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
            self.database = database
            self.maximumConnections = maximumConnections
        }

        /// Parses `postgres://user[:password]@host[:port]/database`.
        public init?(url: String, maximumConnections: Int = 20) {
            guard let components = URLComponents(string: url),
                components.scheme == "postgres" || components.scheme == "postgresql",
                let host = components.host, !host.isEmpty,
                let user = components.user, !user.isEmpty
            else { return nil }
            let name = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            guard !name.isEmpty, !name.contains("/") else { return nil }
            if let port = components.port, !(1...65535).contains(port) { return nil }
            self.init(
                host: host,
                port: components.port ?? 5432,
                username: user.removingPercentEncoding ?? user,
                password: components.password?.removingPercentEncoding,
                database: name,
                maximumConnections: maximumConnections
            )
        }
    }

    /// How many attempts a client may make in a window, per kind of action.
    public struct RateLimitSettings: Sendable, Equatable {
        public var loginPerIP: RateLimit
        public var loginPerEmail: RateLimit
        public var signupPerIP: RateLimit
        /// `/v1` requests per API key, and per account across its keys (an account may have its own).
        public var apiPerKey: RateLimit
        public var apiPerAccount: RateLimit

        public init(
            loginPerIP: RateLimit = .init(limit: 30, windowSeconds: 300),
            loginPerEmail: RateLimit = .init(limit: 10, windowSeconds: 300),
            signupPerIP: RateLimit = .init(limit: 10, windowSeconds: 3600),
            apiPerKey: RateLimit = .init(limit: 600, windowSeconds: 60),
            apiPerAccount: RateLimit = .init(limit: 1200, windowSeconds: 60)
        ) {
            self.loginPerIP = loginPerIP
            self.loginPerEmail = loginPerEmail
            self.signupPerIP = signupPerIP
            self.apiPerKey = apiPerKey
            self.apiPerAccount = apiPerAccount
        }
    }

    public var isSecure: Bool { baseURL.lowercased().hasPrefix("https://") }

    public init(
        host: String = "127.0.0.1",
        port: Int = 8080,
        baseURL: String = "http://127.0.0.1:8080",
        database: DatabaseConfiguration,
        redis: RedisConfiguration,
        redisKeyPrefix: String = "kassa:",
        linkKeys: [LinkKey],
        secretKey: [UInt8],
        logLevel: Logger.Level = .info,
        sessionIdleTimeoutSeconds: Int = 2 * 3600,
        trustForwardedFor: Bool = false,
        templatesDirectory: String = "Templates",
        publicDirectory: String = "Public",
        rateLimits: RateLimitSettings = .init(),
        payments: PaymentSettings = .init()
    ) {
        self.host = host
        self.port = port
        self.baseURL = baseURL
        self.database = database
        self.redis = redis
        self.redisKeyPrefix = redisKeyPrefix
        self.linkKeys = linkKeys
        self.secretKey = secretKey
        self.logLevel = logLevel
        self.sessionIdleTimeoutSeconds = sessionIdleTimeoutSeconds
        self.trustForwardedFor = trustForwardedFor
        self.templatesDirectory = templatesDirectory
        self.publicDirectory = publicDirectory
        self.rateLimits = rateLimits
        self.payments = payments
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

extension AppConfiguration {
    /// Every variable Kassa reads, with its meaning and default, for the README and `--help`.
    public static let variables: [(name: String, meaning: String)] = [
        ("KASSA_HOST", "address to listen on (default 127.0.0.1)"),
        ("KASSA_PORT", "port to listen on (default 8080)"),
        ("KASSA_BASE_URL", "public base URL, https in production (default http://127.0.0.1:8080)"),
        ("KASSA_DATABASE_URL", "postgres://user[:password]@host:port/database (default postgres://kassa@127.0.0.1:5433/kassa)"),
        ("KASSA_DB_POOL_SIZE", "PostgreSQL connections per process (default 10; see BENCHMARKS.md)"),
        ("KASSA_REDIS_URL", "redis://[:password@]host:port[/db] (default redis://127.0.0.1:6380/0)"),
        ("KASSA_REDIS_POOL_SIZE", "Redis connections per process (default 16)"),
        ("KASSA_REDIS_PREFIX", "prefix of every Redis key (default kassa:)"),
        ("KASSA_LINK_KEYS", "required: kid:base64secret,... — the first signs payment links, all verify"),
        ("KASSA_SECRET_KEY", "required: 32 bytes, base64 — CSRF tokens, card fingerprints, secrets at rest"),
        ("KASSA_LOG_LEVEL", "trace, debug, info, notice, warning, error or critical (default info)"),
        ("KASSA_SESSION_IDLE_MINUTES", "sign merchants out after this long idle (default 120)"),
        ("KASSA_TRUST_FORWARDED_FOR", "true to take the client address from X-Forwarded-For (default false)"),
        ("KASSA_TEMPLATES_DIR", "mustache templates (default Templates)"),
        ("KASSA_PUBLIC_DIR", "static files (default Public)"),
        ("KASSA_RATE_LOGIN_IP", "login attempts per IP, N/SECONDS (default 30/300)"),
        ("KASSA_RATE_LOGIN_EMAIL", "login attempts per email, N/SECONDS (default 10/300)"),
        ("KASSA_RATE_SIGNUP_IP", "signups per IP, N/SECONDS (default 10/3600)"),
        ("KASSA_RATE_API_KEY", "/v1 requests per API key, N/SECONDS (default 600/60)"),
        ("KASSA_RATE_API_ACCOUNT", "/v1 requests per account across its keys, N/SECONDS (default 1200/60; accounts.api_requests_per_minute overrides)"),
        ("KASSA_WEBHOOKS_ALLOW_PRIVATE", "true to let webhook endpoints use loopback/private addresses and plain http to localhost (development only; default false)"),
        ("KASSA_SMTP_URL", "smtp://[user:password@]host[:port] to email notifications (STARTTLS when offered; default: no email)"),
        ("KASSA_SMTP_FROM", "sender of notification emails (default Kassa <no-reply@localhost>)"),
        ("KASSA_CONSUMER_POLL_MS", "how often the consumers of the event log and the webhook and email senders look for work when idle (default 100)"),
        ("KASSA_MAX_AMOUNT", "largest payment in minor units (default 99999999)"),
        ("KASSA_ISSUER_LATENCY_MS", "simulated issuer delay per call, milliseconds (default 120)"),
        ("KASSA_ISSUER_FAILURE_RATE", "share of simulated issuer calls that fail, 0 to 1 (default 0)"),
        ("KASSA_ISSUER_TIMEOUT_MS", "give up waiting for an issuer after this long (default 5000)"),
        ("KASSA_ISSUER_BREAKER", "failures/seconds: open an issuer's circuit after N failures in a row, for SECONDS (default 5/30)"),
        ("KASSA_RECOVER_AFTER_SECONDS", "resolve payments stuck in processing after this long (default 60)"),
        ("KASSA_BATCH_IN_FLIGHT", "group commit: batches in flight per checkout transition (default 1)"),
        ("KASSA_BATCH_MAX", "group commit: checkouts per batch at most (default 256)"),
        ("KASSA_NIO_EXECUTOR", "true to run Swift concurrency on NIO's event loops, false for its own pool (default true)"),
    ]

    /// Reads the configuration from environment variables, collecting every problem before failing.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> AppConfiguration {
        var problems: [String] = []
        func value(_ name: String) -> String? {
            guard let raw = environment[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            return raw
        }
        func integer(_ name: String, default fallback: Int, range: ClosedRange<Int>) -> Int {
            guard let raw = value(name) else { return fallback }
            guard let number = Int(raw), range.contains(number) else {
                problems.append("\(name) must be a whole number in \(range.lowerBound)...\(range.upperBound) (got \"\(raw)\")")
                return fallback
            }
            return number
        }
        func rate(_ name: String, default fallback: RateLimit) -> RateLimit {
            guard let raw = value(name) else { return fallback }
            guard let parsed = RateLimit(raw) else {
                problems.append("\(name) must look like 10/300 (attempts/seconds) (got \"\(raw)\")")
                return fallback
            }
            return parsed
        }

        let host = value("KASSA_HOST") ?? "127.0.0.1"
        let port = integer("KASSA_PORT", default: 8080, range: 1...65535)
        let baseURL = (value("KASSA_BASE_URL") ?? "http://127.0.0.1:\(port)").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        if let url = URLComponents(string: baseURL), ["http", "https"].contains(url.scheme ?? ""), url.host?.isEmpty == false {
        } else {
            problems.append("KASSA_BASE_URL must be an http(s) URL such as https://pay.example.com (got \"\(baseURL)\")")
        }
        let poolSize = integer("KASSA_DB_POOL_SIZE", default: 10, range: 1...500)
        let databaseURL = value("KASSA_DATABASE_URL") ?? "postgres://kassa@127.0.0.1:5433/kassa"
        let database = DatabaseConfiguration(url: databaseURL, maximumConnections: poolSize)
        if database == nil {
            problems.append("KASSA_DATABASE_URL must look like postgres://user:password@host:5432/database")
        }
        let redisURL = value("KASSA_REDIS_URL") ?? "redis://127.0.0.1:6380/0"
        var redis = RedisConfiguration(url: redisURL)
        if redis == nil {
            problems.append("KASSA_REDIS_URL must look like redis://host:6379/0")
        }
        redis?.maximumConnections = integer("KASSA_REDIS_POOL_SIZE", default: 16, range: 1...256)

        var linkKeys: [LinkKey] = []
        if let raw = value("KASSA_LINK_KEYS") {
            for entry in raw.split(separator: ",") {
                let parts = entry.split(separator: ":", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[0].isEmpty, parts[0].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }),
                    let secret = Data(base64Encoded: parts[1]), secret.count >= 32
                else {
                    problems.append("KASSA_LINK_KEYS must be kid:base64secret pairs separated by commas, each secret at least 32 bytes")
                    linkKeys = []
                    break
                }
                linkKeys.append(LinkKey(id: parts[0], secret: Array(secret)))
            }
            if Set(linkKeys.map(\.id)).count != linkKeys.count {
                problems.append("KASSA_LINK_KEYS names a kid twice")
            }
        } else {
            problems.append("KASSA_LINK_KEYS is required (kid:base64secret,...; `make run` writes one to .data/kassa.env)")
        }

        var secretKey: [UInt8] = []
        if let raw = value("KASSA_SECRET_KEY") {
            if let decoded = Data(base64Encoded: raw), decoded.count == 32 {
                secretKey = Array(decoded)
            } else {
                problems.append("KASSA_SECRET_KEY must be 32 bytes in base64 (openssl rand -base64 32)")
            }
        } else {
            problems.append("KASSA_SECRET_KEY is required (32 bytes, base64; `make run` writes one to .data/kassa.env)")
        }

        var logLevel = Logger.Level.info
        if let raw = value("KASSA_LOG_LEVEL") {
            if let level = Logger.Level(rawValue: raw.lowercased()) {
                logLevel = level
            } else {
                problems.append("KASSA_LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical (got \"\(raw)\")")
            }
        }
        let idleMinutes = integer("KASSA_SESSION_IDLE_MINUTES", default: 120, range: 1...43200)
        var trust = false
        if let raw = value("KASSA_TRUST_FORWARDED_FOR") {
            switch raw.lowercased() {
            case "1", "true", "yes": trust = true
            case "0", "false", "no": trust = false
            default: problems.append("KASSA_TRUST_FORWARDED_FOR must be true or false (got \"\(raw)\")")
            }
        }
        let rateLimits = RateLimitSettings(
            loginPerIP: rate("KASSA_RATE_LOGIN_IP", default: .init(limit: 30, windowSeconds: 300)),
            loginPerEmail: rate("KASSA_RATE_LOGIN_EMAIL", default: .init(limit: 10, windowSeconds: 300)),
            signupPerIP: rate("KASSA_RATE_SIGNUP_IP", default: .init(limit: 10, windowSeconds: 3600)),
            apiPerKey: rate("KASSA_RATE_API_KEY", default: .init(limit: 600, windowSeconds: 60)),
            apiPerAccount: rate("KASSA_RATE_API_ACCOUNT", default: .init(limit: 1200, windowSeconds: 60))
        )

        var failureRate = 0.0
        if let raw = value("KASSA_ISSUER_FAILURE_RATE") {
            if let rate = Double(raw), (0...1).contains(rate) {
                failureRate = rate
            } else {
                problems.append("KASSA_ISSUER_FAILURE_RATE must be a number from 0 to 1 (got \"\(raw)\")")
            }
        }
        let breaker = rate("KASSA_ISSUER_BREAKER", default: .init(limit: 5, windowSeconds: 30))
        let recoverAfter = integer("KASSA_RECOVER_AFTER_SECONDS", default: 60, range: 5...86400)
        let payments = PaymentSettings(
            maximumAmount: Int64(integer("KASSA_MAX_AMOUNT", default: 99_999_999, range: 1...999_999_999_999)),
            issuerLatencyMilliseconds: integer("KASSA_ISSUER_LATENCY_MS", default: 120, range: 0...60_000),
            issuerFailureRate: failureRate,
            issuerTimeoutMilliseconds: integer("KASSA_ISSUER_TIMEOUT_MS", default: 5000, range: 50...120_000),
            breakerThreshold: breaker.limit,
            breakerCoolDownSeconds: breaker.windowSeconds,
            recoverAfterSeconds: recoverAfter,
            recoveryIntervalSeconds: max(1, recoverAfter / 4)
        ).with {
            $0.batchesInFlight = integer("KASSA_BATCH_IN_FLIGHT", default: 1, range: 1...16)
            $0.batchMaximum = integer("KASSA_BATCH_MAX", default: 256, range: 1...4096)
        }

        var nioExecutor = true
        if let raw = value("KASSA_NIO_EXECUTOR") {
            switch raw.lowercased() {
            case "1", "true", "yes": nioExecutor = true
            case "0", "false", "no": nioExecutor = false
            default: problems.append("KASSA_NIO_EXECUTOR must be true or false (got \"\(raw)\")")
            }
        }
        var allowPrivate = false
        if let raw = value("KASSA_WEBHOOKS_ALLOW_PRIVATE") {
            switch raw.lowercased() {
            case "1", "true", "yes": allowPrivate = true
            case "0", "false", "no": allowPrivate = false
            default: problems.append("KASSA_WEBHOOKS_ALLOW_PRIVATE must be true or false (got \"\(raw)\")")
            }
        }
        let outboxPoll = integer("KASSA_CONSUMER_POLL_MS", default: 100, range: 10...60_000)
        var smtp: SMTPConfiguration? = nil
        if let raw = value("KASSA_SMTP_URL") {
            smtp = SMTPConfiguration(url: raw, from: value("KASSA_SMTP_FROM") ?? "Kassa <no-reply@localhost>")
            if smtp == nil { problems.append("KASSA_SMTP_URL must look like smtp://user:password@mail.example:587") }
        }

        guard problems.isEmpty, let database, let redis else {
            throw ConfigurationError(problems: problems)
        }
        return AppConfiguration(
            host: host,
            port: port,
            baseURL: baseURL,
            database: database,
            redis: redis,
            redisKeyPrefix: value("KASSA_REDIS_PREFIX") ?? "kassa:",
            linkKeys: linkKeys,
            secretKey: secretKey,
            logLevel: logLevel,
            sessionIdleTimeoutSeconds: idleMinutes * 60,
            trustForwardedFor: trust,
            templatesDirectory: value("KASSA_TEMPLATES_DIR") ?? "Templates",
            publicDirectory: value("KASSA_PUBLIC_DIR") ?? "Public",
            rateLimits: rateLimits,
            payments: payments
        ).with { $0.webhooksAllowPrivate = allowPrivate; $0.consumerPollMilliseconds = outboxPoll; $0.smtp = smtp; $0.nioExecutor = nioExecutor }
    }
}

extension AppConfiguration {
    /// A copy changed by `change`.
    func with(_ change: (inout AppConfiguration) -> Void) -> AppConfiguration {
        var copy = self
        change(&copy)
        return copy
    }
}

extension AppConfiguration.PaymentSettings {
    /// A copy changed by `change`.
    func with(_ change: (inout Self) -> Void) -> Self {
        var copy = self
        change(&copy)
        return copy
    }
}
