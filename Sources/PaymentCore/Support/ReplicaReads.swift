import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Where a merchant's lists are read: a streaming replica when there is one and it holds the
/// account's own writes, the primary otherwise.
///
/// The history page, the CSV export, the dashboard's charts, the settlement lists and
/// `GET /v1/payments` ask `read(_:_:)` for their client. Everything else (the checkout, receipts, a
/// payment's page, every write) uses the primary.
///
/// Read-your-writes: after a merchant's write (any request that changes something, from a page or
/// the API) `wrote(_:)` keeps the primary's WAL position as the account's mark, shared by every
/// process (`WriteMarks`, in Redis). A read for that account goes to the replica only once the
/// replica has replayed past the mark; it waits up to `maximumWait` for that, then reads the
/// primary. A replica that is down, unreachable or more than `maximumLag` behind is not used
/// until the monitor (`refresh()`, several times a second) finds it well again, and a read that
/// fails on the replica for want of the server is made again on the primary.
public final class ReplicaReads: Sendable {
    /// The account's last write position, shared by every process; nil when it wrote nothing lately.
    public protocol Marks: Sendable {
        func latest(_ account: AccountID) async throws -> UInt64?
        func record(_ account: AccountID, position: UInt64) async throws
    }

    public struct Settings: Sendable {
        /// How long a read waits for the replica to replay the account's own write.
        public var maximumWait: Duration
        /// Past this lag the replica is not used at all.
        public var maximumLag: Duration
        /// The longest a read may take on the replica before it is made on the primary instead.
        public var readLimit: Duration

        public init(maximumWait: Duration = .milliseconds(250), maximumLag: Duration = .seconds(30), readLimit: Duration = .seconds(5)) {
            self.maximumWait = maximumWait
            self.maximumLag = maximumLag
            self.readLimit = readLimit
        }
    }

    /// What the monitor saw last (for metrics and `/ops`).
    public struct Health: Sendable, Equatable {
        public var up = false
        /// The replica's replayed WAL position and the primary's, when last asked.
        public var replayed: UInt64 = 0
        public var written: UInt64 = 0
        /// How long the oldest write the replica has not replayed has been waiting.
        public var lagSeconds: Double = 0
        public var lagBytes: UInt64 { written > replayed ? written - replayed : 0 }
    }

    /// Which server a read went to (counted in metrics).
    public enum Server: String, Sendable, CaseIterable {
        case replica, primary
    }

    public let primary: PostgresClient
    public let replica: PostgresClient?
    let marks: (any Marks)?
    let settings: Settings
    let logger: Logger
    let counted: @Sendable (Server) -> Void
    private let state = Mutex(State())

    private struct State {
        var health = Health()
        /// Primary positions seen by the monitor, oldest first, with when they were seen: the lag
        /// is the age of the oldest one the replica has not replayed (no clock of PostgreSQL's).
        var seen: [(position: UInt64, at: ContinuousClock.Instant)] = []
    }

    public init(
        primary: PostgresClient, replica: PostgresClient?, marks: (any Marks)?, settings: Settings = .init(), logger: Logger,
        counted: @escaping @Sendable (Server) -> Void = { _ in }
    ) {
        self.primary = primary
        self.replica = replica
        self.marks = marks
        self.settings = settings
        self.logger = logger
        self.counted = counted
    }

    /// No replica: every read on the primary.
    public static func primaryOnly(_ database: PostgresClient, logger: Logger) -> ReplicaReads {
        ReplicaReads(primary: database, replica: nil, marks: nil, logger: logger)
    }

    public var health: Health { state.withLock { $0.health } }

    /// Runs a read of `account`'s data on the server `server(for:)` picks; a read the replica
    /// cannot serve (down, or too slow) is made again on the primary.
    public func read<T: Sendable>(_ account: AccountID, _ body: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        let client = await server(for: account)
        guard let replica, client === replica else {
            counted(.primary)
            return try await body(primary)
        }
        do {
            let result = try await Deadline.run(settings.readLimit) { try await body(replica) }
            counted(.replica)
            return result
        } catch  where Self.isUnavailable(error) {
            logger.warning("the replica could not serve a read; reading the primary", metadata: ["error": "\(String(reflecting: error))"])
            markDown()
            counted(.primary)
            return try await body(primary)
        }
    }

    /// The server for a read of `account`'s data (without the fallback of `read`: for a read that
    /// streams, such as the CSV export).
    public func server(for account: AccountID) async -> PostgresClient {
        guard let replica, let marks else { return primary }
        let health = self.health
        guard health.up else { return primary }
        let mark: UInt64?
        do {
            mark = try await marks.latest(account)
        } catch {
            // Not knowing the account's last write, the primary is the one that surely has it.
            return primary
        }
        guard let mark, mark > health.replayed else { return replica }
        // The account wrote something the replica may not have replayed yet: ask it again until
        // it has, or until the bound.
        let deadline = ContinuousClock.now + settings.maximumWait
        while ContinuousClock.now < deadline {
            let left = deadline - ContinuousClock.now
            if let replayed = try? await Deadline.run(left, { try await Self.replayed(on: replica, logger: self.logger) }) {
                state.withLock { $0.health.replayed = max($0.health.replayed, replayed) }
                if replayed >= mark { return replica }
            } else {
                return primary
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return primary
    }

    /// After a merchant's write: the primary's WAL position now (past the write's commit) becomes
    /// the account's mark. Nothing to do without a replica.
    public func wrote(_ account: AccountID) async {
        guard replica != nil, let marks else { return }
        do {
            // The insert position: past the write's commit record even when commits are asynchronous.
            let position = try await Self.position(primary, "SELECT pg_current_wal_insert_lsn()::text", logger: logger)
            try await marks.record(account, position: position ?? 0)
        } catch {
            // Without a mark the next read could miss the write: keep this account on the primary
            // until the replica is known to hold everything written before now.
            logger.warning("could not keep the account's write position", metadata: ["account": "\(account)", "error": "\(error)"])
            markDown()
        }
    }

    /// The monitor's step: the replica's replayed position, the primary's, the lag and whether the
    /// replica is usable. Returns what it found.
    @discardableResult
    public func refresh() async -> Health {
        guard let replica else { return Health() }
        let limit = Duration.seconds(2)
        let written = try? await Deadline.run(limit) {
            try await Self.position(self.primary, "SELECT pg_current_wal_lsn()::text", logger: self.logger)
        }
        let replayed = try? await Deadline.run(limit) { try await Self.replayed(on: replica, logger: self.logger) }
        let now = ContinuousClock.now
        return state.withLock { state in
            if let written = written ?? nil {
                state.health.written = written
                if state.seen.last.map({ $0.position < written }) ?? true { state.seen.append((written, now)) }
            }
            if let replayed {
                let replayed = max(state.health.replayed, replayed)
                state.health.replayed = replayed
                state.seen.removeAll { $0.position <= replayed }
                let oldest = state.seen.first.map { now - $0.at } ?? .zero
                state.health.lagSeconds = Self.seconds(oldest)
                state.health.up = oldest <= settings.maximumLag
            } else {
                state.health.up = false
                state.health.lagSeconds = state.seen.first.map { Self.seconds(now - $0.at) } ?? state.health.lagSeconds
            }
            if state.seen.count > 10_000 { state.seen.removeFirst(state.seen.count - 10_000) }
            return state.health
        }
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private func markDown() {
        state.withLock { $0.health.up = false }
    }

    /// How far the replica has replayed; throws when the server is not a replica (it was promoted,
    /// or the URL names a primary): reading it as one could miss writes made elsewhere.
    static func replayed(on replica: PostgresClient, logger: Logger) async throws -> UInt64 {
        guard let position = try await position(replica, "SELECT pg_last_wal_replay_lsn()::text", logger: logger) else {
            throw NotAReplica()
        }
        return position
    }

    struct NotAReplica: Error, CustomStringConvertible {
        var description: String { "the replica URL names a server that is not replaying a primary's WAL" }
    }

    private static func position(_ client: PostgresClient, _ sql: String, logger: Logger) async throws -> UInt64? {
        let rows = try await client.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        for try await text in rows.decode(String?.self) { return text.flatMap(parseLSN) }
        return nil
    }

    /// `16/B374D848` → 0x16_B374D848.
    public static func parseLSN(_ text: String) -> UInt64? {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let high = UInt64(parts[0], radix: 16), let low = UInt64(parts[1], radix: 16), high <= UInt32.max, low <= UInt32.max
        else { return nil }
        return high << 32 | low
    }

    /// A failure of the server rather than of the query: the read can be made elsewhere.
    static func isUnavailable(_ error: any Error) -> Bool {
        if error is Deadline.Exceeded || error is NotAReplica { return true }
        guard let error = error as? PSQLError else { return true }
        // 40001: a hot standby's recovery conflict cancelled the query.
        return DatabaseFailure.isUnavailable(error) || error.serverInfo?[.sqlState] == "40001"
    }
}

/// What kind of database failure an error is.
public enum DatabaseFailure {
    /// The server is away (a lost connection, a refused one, a shutdown, a server that cannot take
    /// connections yet), rather than the query refused: the request may be tried again, and the
    /// answer is a 503, not a 500.
    public static func isUnavailable(_ error: PSQLError) -> Bool {
        guard error.code == .server, let state = error.serverInfo?[.sqlState] else { return true }
        // 08: connection exception; 57: operator intervention (admin shutdown, crash shutdown,
        // cannot connect now).
        return state.hasPrefix("08") || state.hasPrefix("57")
    }
}
