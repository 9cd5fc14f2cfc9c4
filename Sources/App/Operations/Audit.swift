import Foundation
import Logging
import PaymentCore
import PostgresNIO

/// `kassa audit`: what proves the money after a drill or an incident. Brings the ledger and totals
/// consumers up to date (their passes are safe beside a running server's), then checks that every
/// money-moving event has exactly one transfer and every transfer one event, that each merchant's
/// balance per currency is what its payments captured minus what was refunded, and that a ledger
/// rebuilt from the events equals the live one; and that every closed day's settlements reconcile to
/// the ledger (`Settlements.discrepancies`).
public enum Audit {
    public struct Report: Sendable, Codable {
        public let ledger: Ledger.Audit
        /// Seconds each consumer is behind, by name, after catching up.
        public let lagSeconds: [String: Double]
        /// `pg_stat_database.deadlocks` of this database.
        public let deadlocks: Int64
        /// What does not add up in the settlements, in words; empty when every closed day reconciles.
        public let settlementDiscrepancies: [String]
        public var holds: Bool { ledger.holds && settlementDiscrepancies.isEmpty }
    }

    public static func run(database: PostgresClient, logger: Logger, timeout: Duration = .seconds(120)) async throws -> Report {
        let log = EventLog(database: database, logger: logger)
        let ledger = Ledger(database: database, logger: logger)
        try await EventLog.catchUp(database: database, logger: logger, timeout: timeout)
        let lags = try await log.lag()
        let rows = try await database.query("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()", logger: logger)
        var deadlocks: Int64 = 0
        for try await value in rows.decode(Int64.self) { deadlocks = value }
        return Report(
            ledger: try await ledger.audit(), lagSeconds: Dictionary(uniqueKeysWithValues: lags.map { ($0.consumer.rawValue, $0.seconds) }),
            deadlocks: deadlocks,
            settlementDiscrepancies: try await Settlements(database: database, logger: logger).discrepancies()
        )
    }
}
