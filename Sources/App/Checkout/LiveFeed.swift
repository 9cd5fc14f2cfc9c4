import Foundation
import Logging
import PaymentCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// One reader of the transaction log for every Server-Sent Events stream of this process: while
/// any stream is open it reads the events past its cursor once a second, in commit order (the
/// consumers' rule: `(xid, seq)` past the cursor and `xid` below the snapshot's xmin, so nothing
/// committed late is skipped), and hands each stream the events of its account or payment. A
/// thousand open pages cost one query a second, not a thousand; with none open it reads nothing.
///
/// How many streams one signed-in session and one client address may hold is capped
/// (`LiveFeed.Caps`): the slot is taken when the stream is answered and given back when its
/// response is gone, whether it ran to its end or the client left.
final class LiveFeed: Service, Sendable {
    struct Event: Sendable, Equatable {
        let seq: Int64
        let accountID: String
        let type: String
        let paymentID: String
        let linkID: String
    }

    /// What a stream is told: events of its own, and a tick after every read so it can beat and end on time.
    enum Message: Sendable, Equatable {
        case event(Event)
        case tick
    }

    struct Caps: Sendable, Equatable {
        var perSession: Int
        var perAddress: Int
        static let defaults = Caps(perSession: 6, perAddress: 32)
    }

    private struct Subscriber {
        let accountID: String?
        let paymentID: String?
        let continuation: AsyncStream<Message>.Continuation
    }

    private struct State {
        var subscribers: [UInt64: Subscriber] = [:]
        var next: UInt64 = 0
        var held: [String: Int] = [:]
    }

    let database: PostgresClient
    let logger: Logger
    let caps: Caps
    let interval: Duration
    private let state = Mutex(State())

    init(database: PostgresClient, caps: Caps = .defaults, interval: Duration = .seconds(1), logger: Logger) {
        self.database = database
        self.caps = caps
        self.interval = interval
        self.logger = logger
    }

    // MARK: slots

    /// A held place among a session's and an address's streams; given back when released.
    final class Slot: Sendable {
        let feed: LiveFeed
        let keys: [String]
        init(feed: LiveFeed, keys: [String]) {
            self.feed = feed
            self.keys = keys
        }
        deinit { feed.release(keys) }
    }

    /// Takes a place for a stream of `session` (nil for a payer's) from `address`, or nil when one
    /// of them already holds its cap.
    func slot(session: String?, address: String) -> Slot? {
        var wanted: [(String, Int)] = [("address:" + address, caps.perAddress)]
        if let session { wanted.append(("session:" + session, caps.perSession)) }
        let taken = state.withLock { state -> Bool in
            guard wanted.allSatisfy({ state.held[$0.0, default: 0] < $0.1 }) else { return false }
            for (key, _) in wanted { state.held[key, default: 0] += 1 }
            return true
        }
        return taken ? Slot(feed: self, keys: wanted.map(\.0)) : nil
    }

    fileprivate func release(_ keys: [String]) {
        state.withLock { state in
            for key in keys {
                let left = state.held[key, default: 1] - 1
                state.held[key] = left > 0 ? left : nil
            }
        }
    }

    /// Streams held now (for tests and metrics).
    var openStreams: Int { state.withLock { $0.subscribers.count } }

    // MARK: subscriptions

    /// The messages for one account's events, or one payment's; ends when the caller stops iterating.
    func subscribe(accountID: String? = nil, paymentID: String? = nil) -> AsyncStream<Message> {
        let (stream, continuation) = AsyncStream<Message>.makeStream(bufferingPolicy: .bufferingNewest(256))
        let id = state.withLock { state -> UInt64 in
            state.next += 1
            state.subscribers[state.next] = Subscriber(accountID: accountID, paymentID: paymentID, continuation: continuation)
            return state.next
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    private func broadcast(_ events: [Event]) {
        let subscribers = state.withLock { Array($0.subscribers.values) }
        for subscriber in subscribers {
            for event in events
            where (subscriber.accountID.map { $0 == event.accountID } ?? true) && (subscriber.paymentID.map { $0 == event.paymentID } ?? true) {
                subscriber.continuation.yield(.event(event))
            }
            subscriber.continuation.yield(.tick)
        }
    }

    // MARK: the reader

    func run() async throws {
        var cursor: (xid: String, seq: Int64)? = nil
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if openStreams == 0 {
                // Nobody listens: forget the position, so the next stream starts from its own now.
                cursor = nil
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            var events: [Event] = []
            do {
                if cursor == nil { cursor = try await position() }
                if let (xid, seq) = cursor {
                    let (read, last) = try await read(after: xid, seq)
                    if let last { cursor = last }
                    events = read
                }
            } catch {
                logger.warning("live feed read failed", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            }
            // The tick goes out even after a failed read, so streams still beat and end on time.
            broadcast(events)
            try? await Task.sleep(for: interval)
        }
        state.withLock { state in
            for subscriber in state.subscribers.values { subscriber.continuation.finish() }
        }
    }

    /// The log's position now: its last event every transaction older than the snapshot wrote.
    private func position() async throws -> (String, Int64) {
        let rows = try await database.query(
            """
            SELECT xid::text, seq FROM payment_events WHERE xid < pg_snapshot_xmin(pg_current_snapshot())
            ORDER BY xid DESC, seq DESC LIMIT 1
            """,
            logger: logger
        )
        for try await (xid, seq) in rows.decode((String, Int64).self) { return (xid, seq) }
        return ("0", 0)
    }

    private func read(after xid: String, _ seq: Int64) async throws -> ([Event], (String, Int64)?) {
        let rows = try await database.query(
            """
            SELECT xid::text, seq, account_id, type, coalesce(payment_id, ''), coalesce(payment_link_id, '') FROM payment_events
            WHERE (xid, seq) > (\(xid)::xid8, \(seq)) AND xid < pg_snapshot_xmin(pg_current_snapshot())
            ORDER BY xid, seq LIMIT 1000
            """,
            logger: logger
        )
        var events: [Event] = []
        var last: (String, Int64)? = nil
        for try await (xid, seq, account, type, payment, link) in rows.decode((String, Int64, String, String, String, String).self) {
            events.append(Event(seq: seq, accountID: account, type: type, paymentID: payment, linkID: link))
            last = (xid, seq)
        }
        return (events, last)
    }
}
