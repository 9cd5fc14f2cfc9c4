import App
import Foundation
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
        environment["KASSA_LINK_KEYS"] = "new:" + Data(repeating: 3, count: 32).base64EncodedString() + ",old:" + Data(repeating: 4, count: 48).base64EncodedString()
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
        #expect(
            configuration.payments
                == .init(
                    maximumAmount: 5000, issuerLatencyMilliseconds: 0, issuerFailureRate: 0.25, issuerTimeoutMilliseconds: 800,
                    breakerThreshold: 3, breakerCoolDownSeconds: 10, recoverAfterSeconds: 20, recoveryIntervalSeconds: 5
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
    }
}
