import Foundation
import Logging
import PaymentCore
import RedisClient

/// One environment variable Kassa reads.
///
/// `AppConfiguration.settings` is the only place a variable's name, default and meaning are written:
/// `AppConfiguration.fromEnvironment`, the defaults of `AppConfiguration.init`, `kassa --help` and
/// the README's table all come from it, and a test fails when the README's table differs.
public struct Setting: Sendable {
    /// What happens when the variable is unset or empty.
    public enum Fallback: Sendable {
        /// This value is used, as one would write it. `${NAME}` stands for another variable's value.
        case value(String)
        /// Start-up stops; the text says how to get one.
        case required(String)
        /// Nothing is set; the text says what that means.
        case off(String)
    }

    public let name: String
    public let meaning: String
    public let fallback: Fallback
    /// Never echo the value in an error: a secret, or a URL that may carry a password.
    let secret: Bool
    /// Takes the text into the configuration; returns what the value must be when it cannot.
    let apply: @Sendable (String, inout AppConfiguration) -> String?

    /// `meaning (default …)`, as `--help` and the README show it.
    public var description: String {
        switch fallback {
        case .value(let value): "\(meaning) (default \(value.isEmpty ? "empty" : value))"
        case .required(let how): "required: \(meaning) (\(how))"
        case .off(let what): "\(meaning) (default: \(what))"
        }
    }

    /// The README's row.
    public var markdownRow: String { "| `\(name)` | \(description) |" }
}

extension Setting {
    static func text(
        _ name: String, _ fallback: Fallback, _ meaning: String, secret: Bool = false,
        _ apply: @escaping @Sendable (String, inout AppConfiguration) -> String?
    ) -> Setting {
        Setting(name: name, meaning: meaning, fallback: fallback, secret: secret, apply: apply)
    }

    static func integer(
        _ name: String, _ fallback: Int, _ range: ClosedRange<Int>, _ meaning: String,
        _ set: @escaping @Sendable (inout AppConfiguration, Int) -> Void
    ) -> Setting {
        text(name, .value(String(fallback)), meaning) { raw, configuration in
            guard let number = Int(raw), range.contains(number) else {
                return "a whole number in \(range.lowerBound)...\(range.upperBound)"
            }
            set(&configuration, number)
            return nil
        }
    }

    /// A `postgres://` URL, secret (it may carry a password), with the pool size set so far.
    static func postgres(
        _ name: String, _ fallback: Fallback, _ meaning: String, _ set: @escaping @Sendable (inout AppConfiguration, DatabaseConfiguration) -> Void
    ) -> Setting {
        text(name, fallback, meaning, secret: true) { raw, configuration in
            guard let database = DatabaseConfiguration(url: raw, maximumConnections: configuration.database.maximumConnections) else {
                return "a URL such as postgres://user:password@host:5432/database"
            }
            set(&configuration, database)
            return nil
        }
    }

    static func flag(
        _ name: String, _ fallback: Bool, _ meaning: String, _ set: @escaping @Sendable (inout AppConfiguration, Bool) -> Void
    ) -> Setting {
        text(name, .value(String(fallback)), meaning) { raw, configuration in
            switch raw.lowercased() {
            case "1", "true", "yes": set(&configuration, true)
            case "0", "false", "no": set(&configuration, false)
            default: return "true or false"
            }
            return nil
        }
    }

    static func rate(
        _ name: String, _ fallback: String, _ meaning: String, _ set: @escaping @Sendable (inout AppConfiguration, RateLimit) -> Void
    ) -> Setting {
        text(name, .value(fallback), meaning) { raw, configuration in
            guard let rate = RateLimit(raw) else { return "N/SECONDS such as 10/300" }
            set(&configuration, rate)
            return nil
        }
    }
}

extension AppConfiguration {
    /// Every variable Kassa reads, in the order `--help` and the README list them.
    public static let settings: [Setting] = [
        .text("KASSA_HOST", .value("127.0.0.1"), "address to listen on") { raw, c in
            c.host = raw
            return nil
        },
        .integer("KASSA_PORT", 8080, 1...65535, "port to listen on") { c, port in c.port = port },
        .text(
            "KASSA_BASE_URL", .value("http://127.0.0.1:${KASSA_PORT}"),
            "public base URL of signed links and receipts; https makes cookies `Secure` and adds HSTS"
        ) { raw, c in
            let url = raw.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            guard let parts = URLComponents(string: url), ["http", "https"].contains(parts.scheme ?? ""), parts.host?.isEmpty == false
            else { return "an http(s) URL such as https://pay.example.com" }
            c.baseURL = url
            return nil
        },
        .postgres("KASSA_DATABASE_URL", .value("postgres://kassa@127.0.0.1:5433/kassa"), "`postgres://user[:password]@host:port/database`") {
            c, database in c.database = database
        },
        .integer("KASSA_DB_POOL_SIZE", 10, 1...500, "PostgreSQL connections per process; BENCHMARKS.md says how many") { c, size in
            c.database.maximumConnections = size
        },
        .postgres(
            "KASSA_DATABASE_REPLICA_URL", .off("every read on the primary"),
            "a streaming replica of KASSA_DATABASE_URL: merchants' lists (history, CSV, charts, settlements, `GET /v1/payments`) are read there once it holds the merchant's own writes"
        ) { c, replica in c.replica = replica },
        .integer(
            "KASSA_REPLICA_WAIT_MS", 250, 0...5000,
            "how long a merchant's read waits for the replica to replay their own last write before it reads the primary"
        ) { c, milliseconds in c.replicaWaitMilliseconds = milliseconds },
        .integer("KASSA_REPLICA_MAX_LAG_SECONDS", 30, 1...3600, "a replica further behind than this is not read at all") { c, seconds in
            c.replicaMaximumLagSeconds = seconds
        },
        .text("KASSA_REDIS_URL", .value("redis://127.0.0.1:6380/0"), "`redis://[:password@]host:port[/db]`", secret: true) { raw, c in
            guard var redis = RedisConfiguration(url: raw) else { return "a URL such as redis://host:6379/0" }
            redis.maximumConnections = c.redis.maximumConnections
            c.redis = redis
            return nil
        },
        .integer("KASSA_REDIS_POOL_SIZE", 16, 1...256, "Redis connections per process") { c, size in c.redis.maximumConnections = size },
        .text(
            "KASSA_REDIS_SENTINELS", .off("Redis at KASSA_REDIS_URL"),
            "`host:port,…` of Redis Sentinels: Kassa asks them for the master and follows a failover (KASSA_REDIS_URL's host is then not used)"
        ) { raw, c in
            let endpoints = raw.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.map {
                RedisConfiguration.Endpoint(Substring($0))
            }
            guard !endpoints.isEmpty, endpoints.count <= 16, endpoints.allSatisfy({ $0 != nil }) else {
                return "host:port pairs separated by commas, such as 127.0.0.1:26379,127.0.0.1:26380"
            }
            c.redis.sentinels = endpoints.compactMap { $0 }
            return nil
        },
        .text("KASSA_REDIS_MASTER_NAME", .value("kassa"), "the master's name in the Sentinels' configuration") { raw, c in
            guard ASCIIToken.isValid(raw, length: 1...64) else { return "letters, digits, dot, underscore and dash" }
            c.redis.masterName = raw
            return nil
        },
        .text("KASSA_REDIS_PREFIX", .value("kassa:"), "prefix of every Redis key") { raw, c in
            c.redisKeyPrefix = raw
            return nil
        },
        .text(
            "KASSA_LINK_KEYS", .required("`make run` writes one to .data/kassa.env"),
            "`kid:base64secret,...`, each secret at least 32 bytes; the first signs payment links and receipts, all verify",
            secret: true
        ) { raw, c in
            var keys: [LinkKey] = []
            for entry in raw.split(separator: ",") {
                let parts = entry.split(separator: ":", maxSplits: 1).map(String.init)
                guard parts.count == 2, !parts[0].isEmpty, parts[0].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }),
                    let secret = Data(base64Encoded: parts[1]), secret.count >= 32
                else { return "kid:base64secret pairs separated by commas, each secret at least 32 bytes" }
                keys.append(LinkKey(id: parts[0], secret: Array(secret)))
            }
            guard Set(keys.map(\.id)).count == keys.count else { return "kid:base64secret pairs that name each kid once" }
            c.linkKeys = keys
            return nil
        },
        .text(
            "KASSA_SECRET_KEY", .required("`openssl rand -base64 32`; `make run` writes one to .data/kassa.env"),
            "32 bytes in base64; CSRF tokens, card fingerprints, secrets at rest", secret: true
        ) { raw, c in
            guard let key = Data(base64Encoded: raw), key.count == 32 else { return "32 bytes in base64 (openssl rand -base64 32)" }
            c.secretKey = Array(key)
            return nil
        },
        .text("KASSA_LOG_LEVEL", .value("info"), "trace, debug, info, notice, warning, error or critical") { raw, c in
            guard let level = Logger.Level(rawValue: raw.lowercased()) else {
                return "one of trace, debug, info, notice, warning, error, critical"
            }
            c.logLevel = level
            return nil
        },
        .integer("KASSA_SESSION_IDLE_MINUTES", 120, 1...43200, "sign merchants out after this many minutes idle") { c, minutes in
            c.sessionIdleTimeoutSeconds = minutes * 60
        },
        .flag(
            "KASSA_TRUST_FORWARDED_FOR", false,
            "behind a proxy you run: the client is the right-most `X-Forwarded-For` address, so each client has its own login and signup budget"
        ) { c, on in c.trustForwardedFor = on },
        .text("KASSA_TEMPLATES_DIR", .value("Templates"), "folder of the Mustache templates") { raw, c in
            c.templatesDirectory = raw
            return nil
        },
        .text("KASSA_PUBLIC_DIR", .value("Public"), "folder of the static files") { raw, c in
            c.publicDirectory = raw
            return nil
        },
        .rate("KASSA_RATE_LOGIN_IP", "30/300", "log-in attempts per client address, `N/SECONDS`") { c, rate in c.rateLimits.loginPerIP = rate },
        .rate("KASSA_RATE_LOGIN_EMAIL", "10/300", "log-in attempts per email, `N/SECONDS`") { c, rate in c.rateLimits.loginPerEmail = rate },
        .rate("KASSA_RATE_SIGNUP_IP", "10/3600", "sign-ups per client address, `N/SECONDS`") { c, rate in c.rateLimits.signupPerIP = rate },
        .rate("KASSA_RATE_API_KEY", "600/60", "`/v1` requests per API key, `N/SECONDS`") { c, rate in c.rateLimits.apiPerKey = rate },
        .rate(
            "KASSA_RATE_API_ACCOUNT", "1200/60",
            "`/v1` requests per account across its keys, `N/SECONDS`; `accounts.api_requests_per_minute` gives one account its own"
        ) { c, rate in c.rateLimits.apiPerAccount = rate },
        .rate("KASSA_RATE_PAYER_IP", "60/600", "charge attempts on payment pages per client address, `N/SECONDS`") { c, rate in
            c.rateLimits.payerPerIP = rate
        },
        .rate("KASSA_RATE_PAYER_LINK", "120/600", "charge attempts per payment link or form, `N/SECONDS`") { c, rate in
            c.rateLimits.payerPerSubject = rate
        },
        .rate("KASSA_RATE_PAYER_CARD", "20/3600", "charge attempts per card, a decline counting twice, `N/SECONDS`") { c, rate in
            c.rateLimits.payerPerCard = rate
        },
        .text(
            "KASSA_SMTP_URL", .off("no email"),
            "`smtp://[user:password@]host[:port]` to email notifications too: STARTTLS when offered, and a password only inside TLS; `smtps://` for TLS from the start (port 465), `smtp+insecure://` to allow a password in clear",
            secret: true
        ) { raw, c in
            guard let smtp = SMTPConfiguration(url: raw, from: c.smtp?.from ?? "") else {
                return "a URL such as smtp://user:password@mail.example:587 or smtps://user:password@mail.example"
            }
            c.smtp = smtp
            return nil
        },
        .text("KASSA_SMTP_FROM", .value("Kassa <no-reply@localhost>"), "sender of notification emails") { raw, c in
            c.smtp?.from = raw
            return nil
        },
        .text(
            "KASSA_METRICS_TOKEN", .off("served only by a development server on loopback"),
            "bearer token `/metrics` asks for (`Authorization: Bearer …`); without one, only a server whose base URL is http on loopback serves it",
            secret: true
        ) { raw, c in
            guard raw.count >= 16, raw.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else { return "at least 16 visible ASCII characters" }
            c.metricsToken = raw
            return nil
        },
        .integer(
            "KASSA_DRAIN_SECONDS", 0, 0...300,
            "after SIGTERM, seconds of answering 503 at /health and /ready while still serving, so a load balancer moves away before the server stops"
        ) { c, seconds in c.drainSeconds = seconds },
        .text(
            "KASSA_OTLP_ENDPOINT", .off("no spans are sent; log lines still carry trace ids"),
            "OpenTelemetry collector to send spans to over OTLP/HTTP (protobuf), such as http://127.0.0.1:4318"
        ) { raw, c in
            guard let url = URLComponents(string: raw), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host?.isEmpty == false else {
                return "an http or https URL such as http://127.0.0.1:4318"
            }
            c.otlpEndpoint = raw
            return nil
        },
        .integer(
            "KASSA_MEMORY_BUDGET_MB", 1024, 64...1_048_576,
            "resident memory one server process may use, MiB: exported as `kassa_memory_budget_bytes` for the alert on RSS"
        ) { c, megabytes in c.memoryBudgetMegabytes = megabytes },
        .flag(
            "KASSA_WEBHOOKS_ALLOW_PRIVATE", false,
            "let webhook endpoints use loopback and private addresses and plain http to localhost (development only)"
        ) { c, on in c.webhooksAllowPrivate = on },
        .integer(
            "KASSA_CONSUMER_POLL_MS", 100, 10...60_000,
            "how often the consumers of the event log and the webhook and email senders look for work when idle, milliseconds"
        ) { c, milliseconds in c.consumerPollMilliseconds = milliseconds },
        .text("KASSA_MAX_AMOUNT", .value("99999999"), "largest payment in minor units") { raw, c in
            guard let amount = Int64(raw), (1...999_999_999_999).contains(amount) else { return "a whole number in 1...999999999999" }
            c.payments.maximumAmount = amount
            return nil
        },
        .integer("KASSA_AUTHORIZATION_DAYS", 7, 1...30, "days a manual-capture payment stays authorized before it is voided") { c, days in
            c.authorizationDays = days
        },
        .integer("KASSA_ISSUER_LATENCY_MS", 120, 0...60_000, "simulated issuer delay per call, milliseconds") { c, milliseconds in
            c.payments.issuerLatencyMilliseconds = milliseconds
        },
        .text("KASSA_ISSUER_FAILURE_RATE", .value("0"), "share of simulated issuer calls that fail as if unreachable, 0 to 1") { raw, c in
            guard let rate = Double(raw), (0...1).contains(rate) else { return "a number from 0 to 1" }
            c.payments.issuerFailureRate = rate
            return nil
        },
        .integer("KASSA_ISSUER_TIMEOUT_MS", 5000, 50...120_000, "stop waiting for an issuer after this long, milliseconds") { c, milliseconds in
            c.payments.issuerTimeoutMilliseconds = milliseconds
        },
        .rate("KASSA_ISSUER_BREAKER", "5/30", "`N/SECONDS`: after N failures in a row an issuer's circuit opens for SECONDS") { c, rate in
            c.payments.breakerThreshold = rate.limit
            c.payments.breakerCoolDownSeconds = rate.windowSeconds
        },
        .integer(
            "KASSA_RECOVER_AFTER_SECONDS", 60, 5...86400,
            "payments still `processing` this long are resolved by asking the issuer; the worker looks four times per period"
        ) { c, seconds in
            c.payments.recoverAfterSeconds = seconds
            c.payments.recoveryIntervalSeconds = max(1, seconds / 4)
        },
        .integer("KASSA_BATCH_IN_FLIGHT", 1, 1...16, "group commit: batches in flight per checkout transition") { c, count in
            c.payments.batchesInFlight = count
        },
        .integer("KASSA_BATCH_MAX", 256, 1...4096, "group commit: checkouts per batch at most") { c, count in
            c.payments.batchMaximum = count
        },
        .flag("KASSA_NIO_EXECUTOR", true, "`true` runs Swift concurrency on NIO's event loops, `false` on its own pool") { c, on in
            c.nioExecutor = on
        },
    ]

    /// Applies every setting to `self`: the environment's value, or the default when it is unset
    /// or empty. Returns every problem, one phrase each.
    mutating func apply(_ environment: [String: String]) -> [String] {
        var problems: [String] = []
        var taken: [String: String] = [:]
        for setting in Self.settings {
            var raw: String
            if let given = environment[setting.name]?.trimmingCharacters(in: .whitespaces), !given.isEmpty {
                raw = given
            } else {
                switch setting.fallback {
                case .value(let value): raw = value
                case .required(let how):
                    problems.append("\(setting.name) is required (\(setting.meaning); \(how))")
                    continue
                case .off: continue
                }
                // A default naming another variable follows it; none when that one was refused.
                var refused = false
                while let start = raw.range(of: "${"), let end = raw[start.upperBound...].firstIndex(of: "}") {
                    let name = String(raw[start.upperBound..<end])
                    guard let value = taken[name] else {
                        refused = true
                        break
                    }
                    raw.replaceSubrange(start.lowerBound...end, with: value)
                }
                if refused { continue }
            }
            if let expectation = setting.apply(raw, &self) {
                problems.append("\(setting.name) must be \(expectation)" + (setting.secret ? "" : " (got \"\(raw)\")"))
            } else {
                taken[setting.name] = raw
            }
        }
        return problems
    }

    /// The configuration every setting's default makes, with the required ones empty.
    public static let defaults: AppConfiguration = {
        var configuration = AppConfiguration(unset: ())
        let problems = configuration.apply([:]).filter { !$0.contains(" is required ") }
        precondition(problems.isEmpty, "a default in AppConfiguration.settings does not parse: \(problems)")
        return configuration
    }()

    /// Reads the configuration from environment variables, collecting every problem before failing.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> AppConfiguration {
        var configuration = AppConfiguration(unset: ())
        let problems = configuration.apply(environment)
        guard problems.isEmpty else { throw ConfigurationError(problems: problems) }
        return configuration
    }
}
