import Foundation
import Logging
import PostgresNIO

extension EventLog {
    /// The ledger and totals consumers did not read every committed event in time.
    ///
    /// Mostly this is a transaction still open somewhere in the cluster (any database: transaction
    /// ids are the cluster's): events committed after it started wait behind it, so that none is ever
    /// skipped (see `EventLog`). `holder` names the oldest one when there is one.
    public struct CatchUpTimedOut: Error, CustomStringConvertible {
        public let waited: Duration
        public let holder: String?

        public var description: String {
            "the event log's consumers did not catch up within \(waited): "
                + (holder.map { "the oldest open transaction is \($0)" } ?? "no transaction was open at the end")
        }
    }

    /// Runs the ledger and totals consumers here until they have read every committed event; throws
    /// `CatchUpTimedOut` when `timeout` passes first. What a running server's consumers do, on demand.
    public static func catchUp(database: PostgresClient, logger: Logger, timeout: Duration = .seconds(120)) async throws {
        let log = EventLog(database: database, logger: logger)
        let ledger = Ledger(database: database, logger: logger)
        let history = PaymentHistory(database: database, logger: logger)
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            let read = try await ledger.consume(limit: 5000) + (try await history.consumeTotals(limit: 5000))
            let waiting = try await log.lag().filter { ($0.consumer == .ledger || $0.consumer == .totals) && $0.waitingSince != nil }
            if read == 0 && waiting.isEmpty { return }
            // Events behind a transaction still open anywhere in the cluster wait for it to end.
            if read == 0 { try await Task.sleep(for: .milliseconds(20)) }
        }
        throw CatchUpTimedOut(waited: timeout, holder: try await log.oldestOpenTransaction())
    }

    /// The cluster's oldest transaction that holds a transaction id, in words (process, database,
    /// state, age, application; not its statement, which is another session's and may hold anything),
    /// or nil when there is none.
    public func oldestOpenTransaction() async throws -> String? {
        let rows = try await database.query(
            """
            SELECT format('pid %s in database %s (%s, open %s s, %s)', pid, datname, state,
                          round(extract(epoch FROM clock_timestamp() - xact_start)::numeric, 1),
                          coalesce(nullif(application_name, ''), 'no application name'))
            FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
            ORDER BY xact_start LIMIT 1
            """,
            logger: logger
        )
        for try await line in rows.decode(String.self) { return line }
        return nil
    }
}
