import Logging
import PostgresNIO

extension EventLog {
    /// Runs the ledger and totals consumers here until they have read every committed event (or
    /// `timeout` passes): what a running server's consumers do, on demand.
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
    }
}
