import Logging
import PostgresNIO

extension PostgresClient {
    /// Runs `body` in one transaction on one pooled connection: all of it commits or none of it does.
    ///
    /// Unlike PostgresNIO's `withTransaction`, the error thrown is the one that happened
    /// (a `PaymentError`, a `PSQLError`), not a wrapper, so callers can switch over it.
    public func transaction<Result: Sendable>(
        logger: Logger,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await transaction(logger: logger, commitFailure: { $0 }, body)
    }

    /// Both: `commitFailure` turns what a failed COMMIT threw into what the caller throws.
    private func transaction<Result: Sendable>(
        logger: Logger,
        commitFailure: (any Error) -> any Error,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await self.withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            let value: Result
            do {
                value = try await body(connection)
            } catch {
                if needsRollback(after: error, on: connection) { _ = try? await connection.query("ROLLBACK", logger: logger) }
                throw error
            }
            // Deferred constraints are checked here; a failed COMMIT rolls back.
            do {
                try await connection.query("COMMIT", logger: logger)
            } catch {
                throw commitFailure(error)
            }
            return value
        }
    }
}

/// Whether to send ROLLBACK after `error` ended a transaction early. Not when the session is gone or
/// going: PostgresNIO drops a write to a closing channel without failing the query, so the ROLLBACK
/// would wait forever (seen in `make drills`: after a PostgreSQL crash a worker stopped for good). The
/// server rolls back the transaction of a session that ends. A crashing or stopping server reports
/// FATAL with SQLSTATE class 57 (or 08) just before it closes the connection.
func needsRollback(after error: any Error, on connection: PostgresConnection) -> Bool {
    if connection.isClosed { return false }
    guard let error = error as? PSQLError else { return true }  // our own error: the session is fine
    switch error.code {
    case .server:
        let state = error.serverInfo?[.sqlState] ?? ""
        let severity = error.serverInfo?[.severity] ?? ""
        return !(state.hasPrefix("57") || state.hasPrefix("08") || severity == "FATAL" || severity == "PANIC")
    case .queryCancelled, .tooManyParameters:
        return true
    default:
        return false  // the connection failed
    }
}

extension PSQLError {
    /// The SQLSTATE code, e.g. `23505` for a unique violation.
    var sqlState: String? { serverInfo?[.sqlState] }
    var constraint: String? { serverInfo?[.constraintName] }
}

extension Error {
    /// True when this is PostgreSQL refusing a duplicate in the named unique index.
    public func isUniqueViolation(_ constraint: String? = nil) -> Bool {
        guard let error = self as? PSQLError, error.sqlState == "23505" else { return false }
        return constraint == nil || error.constraint == constraint
    }

    func isCheckViolation(_ constraint: String? = nil) -> Bool {
        guard let error = self as? PSQLError, error.sqlState == "23514" else { return false }
        return constraint == nil || error.constraint == constraint
    }
}

/// A COMMIT that failed: nothing of the transaction is known to be written, and no part of it may be
/// retried as if it had been refused item by item.
public struct CommitFailed: Error, CustomStringConvertible {
    public let underlying: any Error
    public var description: String { "COMMIT failed: \(underlying)" }
}

extension PostgresClient {
    /// Runs one batch in one transaction and returns only after its COMMIT returned: PostgresNIO
    /// completes a statement at CommandComplete, before an implicit transaction commits, so only an
    /// explicit COMMIT's answer proves the rows durable. A failed COMMIT is thrown as `CommitFailed`.
    func batchTransaction<Result: Sendable>(
        logger: Logger,
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await transaction(logger: logger, commitFailure: { CommitFailed(underlying: $0) }, body)
    }
}

/// Whether one item of a batch can have caused `error`: PostgreSQL refusing the batch's statement
/// for its data (SQLSTATE classes 22 data exception, 23 integrity violation, P0 raised by a
/// function). A batch that fails so is run again item by item. A lost connection, a server going
/// away or a failed COMMIT are not such errors: every item of the batch fails with them.
public func isItemError(_ error: any Error) -> Bool {
    guard let error = error as? PSQLError, error.code == .server, let state = error.sqlState else { return false }
    return state.hasPrefix("22") || state.hasPrefix("23") || state.hasPrefix("P0")
}
