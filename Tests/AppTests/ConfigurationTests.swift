import App
import Foundation
import KassaTestSupport
import RedisClient
import Testing

@Suite("Configuration from the environment")
struct ConfigurationTests {
    static let valid: [String: String] = [
        "KASSA_LINK_KEYS": "k1:" + Data(repeating: 1, count: 32).base64EncodedString(),
        "KASSA_SECRET_KEY": Data(repeating: 2, count: 32).base64EncodedString(),
    ]

    @Test func defaultsNeedOnlyTheTwoSecrets() throws {
        let configuration = try AppConfiguration.fromEnvironment(Self.valid)
        #expect(configuration.port == 8080)
        #expect(configuration.database.port == 5433)
        #expect(configuration.database.username == "kassa")
        #expect(configuration.redis.port == 6380)
        #expect(configuration.linkKeys.map(\.id) == ["k1"])
        #expect(configuration.baseURL == "http://127.0.0.1:8080")
        #expect(!configuration.isSecure)
        // The defaults are the production ones: the simulated issuer takes its time, as a real one does.
        #expect(configuration.payments.issuerLatencyMilliseconds == 120)
        #expect(configuration.database.maximumConnections == 10)
        #expect(configuration.smtp == nil)
    }

    @Test func theInitializerAndTheEnvironmentShareTheirDefaults() throws {
        let read = try AppConfiguration.fromEnvironment(Self.valid)
        let built = AppConfiguration(database: read.database, redis: read.redis, linkKeys: read.linkKeys, secretKey: read.secretKey)
        #expect(String(describing: built) == String(describing: read))
    }

    @Test func theBaseURLFollowsThePortUnlessGiven() throws {
        var environment = Self.valid
        environment["KASSA_PORT"] = "9090"
        #expect(try AppConfiguration.fromEnvironment(environment).baseURL == "http://127.0.0.1:9090")
        environment["KASSA_BASE_URL"] = "https://pay.example.com"
        #expect(try AppConfiguration.fromEnvironment(environment).baseURL == "https://pay.example.com")
        // A refused port is named once, not again through the base URL it would have made.
        environment = Self.valid
        environment["KASSA_PORT"] = "eighty"
        let error = try #require(throws: ConfigurationError.self) { try AppConfiguration.fromEnvironment(environment) }
        #expect(error.problems.count == 1)
    }

    @Test func emailIsSentOnlyWithAnSMTPURLAndFromItsSender() throws {
        var environment = Self.valid
        environment["KASSA_SMTP_FROM"] = "Shop <shop@example.com>"
        #expect(try AppConfiguration.fromEnvironment(environment).smtp == nil)
        environment["KASSA_SMTP_URL"] = "smtp://user:pw@mail.example:587"
        let smtp = try #require(try AppConfiguration.fromEnvironment(environment).smtp)
        #expect(smtp.host == "mail.example" && smtp.port == 587 && smtp.username == "user" && smtp.password == "pw")
        #expect(smtp.from == "Shop <shop@example.com>")
        environment["KASSA_SMTP_FROM"] = nil
        #expect(try AppConfiguration.fromEnvironment(environment).smtp?.from == "Kassa <no-reply@localhost>")
    }

    /// The README's configuration table is the settings table, row for row: a default or a
    /// variable changed in one place and not the other fails here.
    @Test func theReadmeListsEverySettingAsTheCodeDefinesIt() throws {
        let readme = try String(contentsOfFile: TestServices.root + "/README.md", encoding: .utf8)
        let rows = readme.split(separator: "\n").filter { $0.hasPrefix("| `KASSA_") }.map(String.init)
        let expected = AppConfiguration.settings.map(\.markdownRow)
        #expect(
            rows == expected,
            "README.md's configuration table differs from AppConfiguration.settings; its rows should be:\n\(expected.joined(separator: "\n"))"
        )
    }

    @Test func everySettingIsNamedOnceAndHasAMeaning() {
        let names = AppConfiguration.settings.map(\.name)
        #expect(Set(names).count == names.count)
        #expect(AppConfiguration.settings.allSatisfy { $0.name.hasPrefix("KASSA_") && !$0.meaning.isEmpty })
    }

    @Test func everyVariableIsRead() throws {
        var environment = Self.valid
        environment["KASSA_PORT"] = "9090"
        environment["KASSA_BASE_URL"] = "https://pay.example.com/"
        environment["KASSA_DATABASE_URL"] = "postgres://shop:s%40cret@db.internal:6543/payments"
        environment["KASSA_REDIS_URL"] = "redis://:pw@cache.internal:7000/3"
        environment["KASSA_LOG_LEVEL"] = "DEBUG"
        environment["KASSA_SESSION_IDLE_MINUTES"] = "30"
        environment["KASSA_RATE_LOGIN_EMAIL"] = "5/60"
        environment["KASSA_MAX_AMOUNT"] = "5000"
        environment["KASSA_ISSUER_LATENCY_MS"] = "0"
        environment["KASSA_ISSUER_FAILURE_RATE"] = "0.25"
        environment["KASSA_ISSUER_TIMEOUT_MS"] = "800"
        environment["KASSA_ISSUER_BREAKER"] = "3/10"
        environment["KASSA_RECOVER_AFTER_SECONDS"] = "20"
        environment["KASSA_REDIS_SENTINELS"] = "10.0.0.1:26379, sentinel-b.internal:26380"
        environment["KASSA_REDIS_MASTER_NAME"] = "payments-cache"
        environment["KASSA_OTLP_ENDPOINT"] = "http://collector.internal:4318"
        environment["KASSA_MEMORY_BUDGET_MB"] = "2048"
        environment["KASSA_DRAIN_SECONDS"] = "5"
        environment["KASSA_DB_POOL_SIZE"] = "7"
        environment["KASSA_DATABASE_REPLICA_URL"] = "postgres://reader@replica.internal/payments"
        environment["KASSA_REPLICA_WAIT_MS"] = "100"
        environment["KASSA_REPLICA_MAX_LAG_SECONDS"] = "12"
        environment["KASSA_LINK_KEYS"] =
            "new:" + Data(repeating: 3, count: 32).base64EncodedString() + ",old:" + Data(repeating: 4, count: 48).base64EncodedString()
        let configuration = try AppConfiguration.fromEnvironment(environment)
        #expect(configuration.port == 9090)
        #expect(configuration.baseURL == "https://pay.example.com")
        #expect(configuration.isSecure)
        #expect(configuration.database.host == "db.internal")
        #expect(configuration.database.port == 6543)
        #expect(configuration.database.password == "s@cret")
        #expect(configuration.database.database == "payments")
        #expect(configuration.redis.host == "cache.internal")
        #expect(configuration.redis.port == 7000)
        #expect(configuration.redis.database == 3)
        #expect(configuration.redis.password == "pw")
        #expect(configuration.logLevel == .debug)
        #expect(configuration.sessionIdleTimeoutSeconds == 1800)
        #expect(configuration.rateLimits.loginPerEmail == RateLimit(limit: 5, windowSeconds: 60))
        #expect(configuration.linkKeys.map(\.id) == ["new", "old"])
        #expect(configuration.redis.sentinels == [.init(host: "10.0.0.1", port: 26379), .init(host: "sentinel-b.internal", port: 26380)])
        #expect(configuration.redis.masterName == "payments-cache")
        #expect(configuration.otlpEndpoint == "http://collector.internal:4318")
        #expect(configuration.memoryBudgetMegabytes == 2048 && configuration.drainSeconds == 5)
        // The replica's pool is the primary's size, whichever order the variables come in.
        #expect(
            configuration.replica
                == .init(host: "replica.internal", port: 5432, username: "reader", password: nil, database: "payments", maximumConnections: 7))
        #expect(configuration.replicaWaitMilliseconds == 100 && configuration.replicaMaximumLagSeconds == 12)
        #expect(
            configuration.payments
                == .init(
                    maximumAmount: 5000, issuerLatencyMilliseconds: 0, issuerFailureRate: 0.25, issuerTimeoutMilliseconds: 800,
                    breakerThreshold: 3, breakerCoolDownSeconds: 10, recoverAfterSeconds: 20, recoveryIntervalSeconds: 5,
                    batchesInFlight: 1, batchMaximum: 256
                )
        )
    }

    @Test(arguments: [
        ("KASSA_PORT", "eighty"),
        ("KASSA_PORT", "70000"),
        ("KASSA_DATABASE_URL", "mysql://x@y/z"),
        ("KASSA_DATABASE_URL", "postgres://host-without-user/db"),
        ("KASSA_REDIS_URL", "http://localhost"),
        ("KASSA_LINK_KEYS", "k1:tooshort"),
        ("KASSA_LINK_KEYS", "no-colon"),
        ("KASSA_SECRET_KEY", "c2hvcnQ="),
        ("KASSA_LOG_LEVEL", "loud"),
        ("KASSA_BASE_URL", "ftp://example.com"),
        ("KASSA_RATE_LOGIN_IP", "ten per minute"),
        ("KASSA_TRUST_FORWARDED_FOR", "maybe"),
        ("KASSA_SESSION_IDLE_MINUTES", "0"),
        ("KASSA_MAX_AMOUNT", "0"),
        ("KASSA_ISSUER_FAILURE_RATE", "1.5"),
        ("KASSA_ISSUER_FAILURE_RATE", "often"),
        ("KASSA_ISSUER_LATENCY_MS", "-1"),
        ("KASSA_ISSUER_TIMEOUT_MS", "10"),
        ("KASSA_ISSUER_BREAKER", "five"),
        ("KASSA_RECOVER_AFTER_SECONDS", "1"),
        ("KASSA_DB_POOL_SIZE", "0"),
        ("KASSA_REDIS_POOL_SIZE", "many"),
        ("KASSA_RATE_API_KEY", "0/60"),
        ("KASSA_SMTP_URL", "http://mail.example"),
        ("KASSA_WEBHOOKS_ALLOW_PRIVATE", "sometimes"),
        ("KASSA_CONSUMER_POLL_MS", "5"),
        ("KASSA_BATCH_IN_FLIGHT", "0"),
        ("KASSA_BATCH_MAX", "5000"),
        ("KASSA_NIO_EXECUTOR", "perhaps"),
        ("KASSA_REDIS_SENTINELS", "sentinel.internal"),
        ("KASSA_REDIS_SENTINELS", "a:26379,b:99999"),
        ("KASSA_REDIS_SENTINELS", ":26379"),
        ("KASSA_REDIS_MASTER_NAME", "my master"),
        ("KASSA_OTLP_ENDPOINT", "grpc://collector:4317"),
        ("KASSA_OTLP_ENDPOINT", "collector:4318"),
        ("KASSA_MEMORY_BUDGET_MB", "0"),
        ("KASSA_DRAIN_SECONDS", "forever"),
        ("KASSA_DRAIN_SECONDS", "301"),
        ("KASSA_DATABASE_REPLICA_URL", "mysql://x@y/z"),
        ("KASSA_DATABASE_REPLICA_URL", "postgres://replica-without-user/db"),
        ("KASSA_REPLICA_WAIT_MS", "soon"),
        ("KASSA_REPLICA_WAIT_MS", "5001"),
        ("KASSA_REPLICA_MAX_LAG_SECONDS", "0"),
        ("KASSA_LINK_KEYS", "k1:\(Data(repeating: 1, count: 32).base64EncodedString()),k1:\(Data(repeating: 2, count: 32).base64EncodedString())"),
    ])
    func malformedValueNamesTheVariable(name: String, value: String) throws {
        var environment = Self.valid
        environment[name] = value
        let error = try #require(throws: ConfigurationError.self) { try AppConfiguration.fromEnvironment(environment) }
        #expect(error.description.contains(name))
        #expect(!error.description.contains("\n"))
    }

    @Test func missingSecretsAreAllNamedInOneLine() throws {
        let error = try #require(throws: ConfigurationError.self) { try AppConfiguration.fromEnvironment([:]) }
        #expect(error.description.contains("KASSA_LINK_KEYS"))
        #expect(error.description.contains("KASSA_SECRET_KEY"))
        #expect(!error.description.contains("\n"))
    }

    @Test func secretsAreNotEchoedInErrors() throws {
        var environment = Self.valid
        environment["KASSA_SECRET_KEY"] = "dG9wLXNlY3JldC12YWx1ZQ=="
        let error = try #require(throws: ConfigurationError.self) { try AppConfiguration.fromEnvironment(environment) }
        #expect(!error.description.contains("dG9wLXNlY3JldC12YWx1ZQ=="))
        // Nor a password inside a URL that does not parse.
        for name in ["KASSA_DATABASE_URL", "KASSA_DATABASE_REPLICA_URL", "KASSA_REDIS_URL", "KASSA_SMTP_URL"] {
            var environment = Self.valid
            environment[name] = "mysql://user:hunter2@db.example/x"
            let error = try #require(throws: ConfigurationError.self) { try AppConfiguration.fromEnvironment(environment) }
            #expect(error.description.contains(name))
            #expect(!error.description.contains("hunter2"))
        }
    }
}
