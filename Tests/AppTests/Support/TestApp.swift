import App
import Foundation
import Hummingbird
import HummingbirdTesting
import KassaTestSupport
import Logging
import NIOCore
import RedisClient
import Synchronization
import Testing

/// The application the binary runs, wired with test configuration: its own
/// database and its own Redis key prefix.
struct TestApp {
    var configuration: AppConfiguration
    let databaseName: String
    let logs: LogRecorder

    static let linkKey = AppConfiguration.LinkKey(id: "test1", secret: Array(repeating: 7, count: 32))

    static func make(
        redis: RedisConfiguration = TestServices.redis,
        baseURL: String = "http://127.0.0.1:8080",
        rateLimits: AppConfiguration.RateLimitSettings = .defaults,
        logLevel: Logger.Level = .info
    ) async throws -> TestApp {
        let name = try await TestServices.described { try await TestServices.makeDatabase() }
        var database = TestServices.admin
        database.database = name
        // Four: some fifty suites run at once against one PostgreSQL (max_connections 300 here); eight each ran it out.
        database.maximumConnections = 4
        var configured = AppConfiguration(database: database, redis: redis, linkKeys: [linkKey], secretKey: Array(repeating: 9, count: 32))
        configured.baseURL = baseURL
        configured.redisKeyPrefix = "t:\(name):"
        configured.logLevel = logLevel
        configured.templatesDirectory = TestServices.root + "/Templates"
        configured.publicDirectory = TestServices.root + "/Public"
        configured.rateLimits = rateLimits
        // The simulated issuer answers at once, and there is no background recovery: tests call it when they mean to.
        configured.payments.issuerLatencyMilliseconds = 0
        configured.payments.recoveryIntervalSeconds = 0
        // Many tests share two cores: give a first connection time before calling PostgreSQL down.
        configured.readinessTimeout = .seconds(15)
        // Workers are driven by the tests that need them; endpoints on loopback are the tests' receivers.
        configured.consumerPollMilliseconds = 0
        configured.webhooksAllowPrivate = true
        configured.compareRendering = true
        return TestApp(configuration: configured, databaseName: name, logs: LogRecorder(level: logLevel))
    }

    /// Runs the application (in the router test framework, or `live` on a free port). Its database
    /// stays until the run's end (see `TestServices`).
    func run(live: Bool = false, _ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        var configuration = self.configuration
        if live { configuration.port = 0 }
        try await TestServices.described {
            try await TestSlots.run {
                let app = try await buildApplication(configuration: configuration, logger: logs.logger)
                try await app.test(live ? .live : .router, body)
            }
        }
        // Every page this test rendered came out byte for byte as swift-mustache renders it.
        let differences = logs.lines.withLock { $0.filter { $0.contains("rendering differs from swift-mustache") } }
        #expect(differences.isEmpty, "\(differences.prefix(3))")
    }
}

extension AppConfiguration.RateLimitSettings {
    /// The defaults, changed by `change`.
    static func defaults(_ change: (inout Self) -> Void) -> Self {
        var limits = Self.defaults
        change(&limits)
        return limits
    }
}

/// Keeps every log line the application writes, to check what never reaches logs.
final class LogRecorder: Sendable {
    let lines = Mutex<[String]>([])
    let level: Logger.Level

    init(level: Logger.Level) {
        self.level = level
    }

    var logger: Logger {
        let recorder = self
        var logger = Logger(label: "kassa.test") { _ in RecordingHandler(recorder: recorder, logLevel: recorder.level) }
        logger.logLevel = level
        return logger
    }

    var text: String { lines.withLock { $0.joined(separator: "\n") } }

    struct RecordingHandler: LogHandler {
        let recorder: LogRecorder
        var logLevel: Logger.Level
        var metadata: Logger.Metadata = [:]

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged = metadata
            if let extra = event.metadata { merged.merge(extra) { _, new in new } }
            let line = "\(event.level) \(event.message) " + merged.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
            recorder.lines.withLock { $0.append(line) }
        }
    }
}
