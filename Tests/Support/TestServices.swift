import Foundation
import Logging
import PaymentCore
import PostgresNIO
import RedisClient

/// Real PostgreSQL and Redis for tests, started by `scripts/services.sh`.
///
/// Migrations run once into a template database named after their fingerprint;
/// every test then gets its own database cloned from it, so tests run in parallel
/// without seeing each other's rows.
///
/// The tests leave their databases behind; `scripts/swift-test.sh` drops them before and after a
/// run (`scripts/services.sh prune`). DROP DATABASE takes a transaction id and then waits for a
/// checkpoint, and transaction ids are the cluster's: dropped at each test's end, the queue of drops
/// held back every other test's event consumers (`EventLog`) for up to 54 s in a full run.
public enum TestServices {
    public static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // Tests/Support/TestServices.swift
        return url.path
    }()

    public static var environment: [String: String] { ProcessInfo.processInfo.environment }

    public static var admin: DatabaseConfiguration {
        let url = environment["KASSA_TEST_DATABASE_URL"] ?? "postgres://kassa@127.0.0.1:5433/postgres"
        guard let configuration = DatabaseConfiguration(url: url, maximumConnections: 4) else {
            fatalError("KASSA_TEST_DATABASE_URL is not a postgres:// URL: \(url)")
        }
        return configuration
    }

    public static var redis: RedisConfiguration {
        let url = environment["KASSA_TEST_REDIS_URL"] ?? "redis://127.0.0.1:6380/0"
        guard var configuration = RedisConfiguration(url: url) else { fatalError("KASSA_TEST_REDIS_URL is not a redis:// URL: \(url)") }
        configuration.maximumConnections = 4
        return configuration
    }

    public static let logger = Logger(label: "kassa.tests")
    public static let template = TemplateBuilder()

    /// A connection to `database` on the server of `server` (the tests' own by default).
    public static func connection(to database: String, on server: DatabaseConfiguration = admin) async throws -> PostgresConnection {
        var configuration = server
        configuration.database = database
        return try await PostgresConnection.connect(
            configuration: .init(
                host: configuration.host, port: configuration.port, username: configuration.username,
                password: configuration.password, database: configuration.database, tls: .disable
            ),
            id: Int.random(in: 1...Int(Int32.max)),
            logger: logger
        )
    }

    /// Runs `body` on a new connection to `database` and always closes it.
    public static func withConnection<T: Sendable>(
        to database: String, on server: DatabaseConfiguration = admin, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection = try await connection(to: database, on: server)
        do {
            let result = try await body(connection)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Runs SQL that cannot be run in a transaction (CREATE/DROP DATABASE) on the admin database.
    public static func admin(_ sql: String) async throws {
        try await withConnection(to: admin.database) { connection in
            _ = try await connection.simpleQuery(sql).get()
        }
    }

    /// Every transaction open in the test cluster that holds a transaction id, oldest first, with the
    /// start of its statement: what holds the event consumers of every test back (transaction ids
    /// are the cluster's, so one test's long transaction delays the catch-up of all the others).
    public static func openTransactions() async -> String {
        do {
            return try await withConnection(to: admin.database) { connection in
                let rows = try await connection.query(
                    """
                    SELECT format('pid %s, %s, %s, open %s s: %s', pid, datname, state,
                                  round(extract(epoch FROM clock_timestamp() - xact_start)::numeric, 1),
                                  left(regexp_replace(query, '\\s+', ' ', 'g'), 160))
                    FROM pg_stat_activity WHERE backend_xid IS NOT NULL ORDER BY xact_start
                    """,
                    logger: logger
                )
                var lines: [String] = []
                for try await line in rows.decode(String.self) { lines.append(line) }
                return lines.isEmpty ? "none open now" : lines.joined(separator: "\n")
            }
        } catch {
            return "could not ask: \(error)"
        }
    }

    /// The event consumers caught up within `timeout`, or an error that lists what held them back.
    public static func catchUp(_ client: PostgresClient, timeout: Duration = .seconds(180)) async throws {
        do {
            try await EventLog.catchUp(database: client, logger: logger, timeout: timeout)
        } catch let timedOut as EventLog.CatchUpTimedOut {
            throw HeldBack(reason: timedOut.description, open: await openTransactions())
        }
    }

    /// A PostgreSQL error with everything it says: PSQLError describes itself generically (in the
    /// server it may carry a statement's data), which left a failed test saying only "PSQLError".
    public struct DatabaseFailure: Error, CustomStringConvertible {
        public let description: String
    }

    /// `body`, its escaping PostgreSQL errors described in full (`DatabaseFailure`).
    public static func described<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as PSQLError {
            throw DatabaseFailure(description: String(reflecting: error))
        }
    }

    public struct HeldBack: Error, CustomStringConvertible {
        public let reason: String
        public let open: String
        public var description: String { "\(reason); open transactions:\n\(open)" }
    }

    /// A new database with every migration applied.
    public static func makeDatabase() async throws -> String {
        let template = try await template.name()
        let name = "kassa_t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        // Right after the template is built its last session may still be closing, and PostgreSQL
        // refuses to copy a database someone is connected to (55006): wait for it.
        for attempt in 1...50 {
            do {
                try await admin("CREATE DATABASE \(name) TEMPLATE \(template)")
                return name
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "55006" && attempt < 50 {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        return name
    }
}

/// Builds the migrated template database once per fingerprint, across processes.
///
/// Once per process too: every test asks at start, and an actor's method suspended on the lock
/// lets the next caller in, so without the one shared task each of ~300 tests opened its own
/// connection and queued on the advisory lock, one at a time (tests waited up to 100 s to start).
public actor TemplateBuilder {
    private var building: Task<String, any Error>?

    public func name() async throws -> String {
        if let building { return try await building.value }
        let task = Task { try await Self.build() }
        building = task
        do {
            return try await task.value
        } catch {
            building = nil
            throw error
        }
    }

    private static func build() async throws -> String {
        let migrator = try Migrator(directory: TestServices.root + "/Migrations")
        let name = "kassa_tpl_" + migrator.fingerprint
        let admin = try await TestServices.connection(to: TestServices.admin.database)
        _ = try await admin.simpleQuery("SELECT pg_advisory_lock(727274)").get()
        do {
            let exists = try await admin.simpleQuery("SELECT 1 FROM pg_database WHERE datname = '\(name)'").get()
            if exists.isEmpty {
                let building = name + "_building"
                _ = try await admin.simpleQuery("DROP DATABASE IF EXISTS \(building) WITH (FORCE)").get()
                _ = try await admin.simpleQuery("CREATE DATABASE \(building)").get()
                try await TestServices.withConnection(to: building) { connection in
                    try await migrator.migrate(on: connection, logger: TestServices.logger)
                }
                _ = try await admin.simpleQuery("ALTER DATABASE \(building) RENAME TO \(name)").get()
            }
            _ = try await admin.simpleQuery("SELECT pg_advisory_unlock(727274)").get()
            try await admin.close()
        } catch {
            try? await admin.close()
            throw error
        }
        return name
    }
}
