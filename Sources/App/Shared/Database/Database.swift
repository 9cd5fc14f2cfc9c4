import Logging
import NIOPosix
import PaymentCore
import PostgresNIO

extension AppConfiguration.DatabaseConfiguration {
    /// The pool configuration for PostgresNIO.
    var clientConfiguration: PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: .disable
        )
        configuration.options.maximumConnections = maximumConnections
        configuration.options.minimumConnections = 0
        configuration.options.connectionIdleTimeout = .seconds(60)
        return configuration
    }

    var connectionConfiguration: PostgresConnection.Configuration {
        PostgresConnection.Configuration(host: host, port: port, username: username, password: password, database: database, tls: .disable)
    }
}

/// One-off database work outside the server (migrate, seed-demo, tests).
public enum DatabaseTools {
    /// Applies the migrations in `directory` over a single connection.
    @discardableResult
    public static func migrate(_ configuration: AppConfiguration.DatabaseConfiguration, directory: String, logger: Logger) async throws -> [String] {
        let migrator = try Migrator(directory: directory)
        let connection = try await PostgresConnection.connect(configuration: configuration.connectionConfiguration, id: 1, logger: logger)
        do {
            let applied = try await migrator.migrate(on: connection, logger: logger)
            try await connection.close()
            return applied
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Runs `body` with a working connection pool, then shuts the pool down.
    public static func withClient<T: Sendable>(
        _ configuration: AppConfiguration.DatabaseConfiguration,
        logger: Logger,
        _ body: @Sendable (PostgresClient) async throws -> T
    ) async throws -> T {
        let client = PostgresClient(configuration: configuration.clientConfiguration, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            do {
                let result = try await body(client)
                group.cancelAll()
                return result
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }
}
