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
        try await self.withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            let value: Result
            do {
                value = try await body(connection)
            } catch {
                // Not on a closed connection: PostgresNIO drops a write to a closed channel without
                // failing the query, so the ROLLBACK would wait forever (seen in `make drills` when
                // PostgreSQL crashed mid-transaction: the outbox workers stopped for good). The
                // server rolls back an interrupted transaction by itself.
                if !connection.isClosed { _ = try? await connection.query("ROLLBACK", logger: logger) }
                throw error
            }
            // Deferred constraints (the ledger balance) are checked here; a failed COMMIT rolls back.
            try await connection.query("COMMIT", logger: logger)
            return value
        }
    }
}

extension PSQLError {
    /// The SQLSTATE code, e.g. `23505` for a unique violation.
    var sqlState: String? { serverInfo?[.sqlState] }
    var constraint: String? { serverInfo?[.constraintName] }
}

extension Error {
    /// True when this is PostgreSQL refusing a duplicate in the named unique index.
    func isUniqueViolation(_ constraint: String? = nil) -> Bool {
        guard let error = self as? PSQLError, error.sqlState == "23505" else { return false }
        return constraint == nil || error.constraint == constraint
    }

    func isCheckViolation(_ constraint: String? = nil) -> Bool {
        guard let error = self as? PSQLError, error.sqlState == "23514" else { return false }
        return constraint == nil || error.constraint == constraint
    }
}
