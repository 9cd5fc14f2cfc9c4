import Foundation
import Logging
import PaymentCore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// One reader of the transaction log for every Server-Sent Events stream of this process: while
/// any stream is open it asks, once a second and in one query, for the events past each watched
/// account's cursor (the `(account_id, seq)` index, a few rows per account), and hands each stream
/// the events of its account or payment. A thousand open pages cost one query a second, not a
/// thousand; with none open it reads nothing. Like the per-stream reads it replaces, it follows
/// `seq`, so an event that commits after a later one of the same account is not announced (a
/// page reloads on the next change); the consumers, which must see every event, read in commit
/// order instead.
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
        let accountID: String
        let paymentID: String?
        let continuation: AsyncStream<Message>.Continuation
    }

    private struct State {
        var subscribers: [UInt64: Subscriber] = [:]
        var next: UInt64 = 0
        var held: [String: Int] = [:]
        /// The last event read per watched account.
        var cursors: [String: Int64] = [:]
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

    // MARK: subscriptions

    /// One stream's messages.
    struct Subscription: Sendable {
        private let messages: AsyncStream<Message>
        private let continuation: AsyncStream<Message>.Continuation

        fileprivate init(messages: AsyncStream<Message>, continuation: AsyncStream<Message>.Continuation) {
            self.messages = messages
            self.continuation = continuation
        }

        /// Runs `body` over the messages. The server shutting down ends them (the browser
        /// reconnects elsewhere): Hummingbird waits for the requests in flight before the feed is
        /// told to stop, and an open page would hold the process up for the rest of its lifetime.
        func consume(_ body: (AsyncStream<Message>) async throws -> Void) async rethrows {
            try await withGracefulShutdownHandler {
                try await body(messages)
            } onGracefulShutdown: {
                continuation.finish()
            }
        }
    }

    /// The messages for one account's events, or one of its payments'; they end when the caller
    /// stops iterating or the server shuts down. Events from now on: an account not watched yet
    /// starts at its latest event.
    func subscribe(accountID: String, paymentID: String? = nil) async throws -> Subscription {
        if state.withLock({ $0.cursors[accountID] }) == nil {
            let rows = try await database.query(
                "SELECT coalesce(max(seq), 0) FROM payment_events WHERE account_id = \(accountID)", logger: logger)
            var latest: Int64 = 0
            for try await value in rows.decode(Int64.self) { latest = value }
            state.withLock { state in
                if state.cursors[accountID] == nil { state.cursors[accountID] = latest }
            }
        }
        let (stream, continuation) = AsyncStream<Message>.makeStream(bufferingPolicy: .bufferingNewest(256))
        let id = state.withLock { state -> UInt64 in
            state.next += 1
            state.subscribers[state.next] = Subscriber(accountID: accountID, paymentID: paymentID, continuation: continuation)
            return state.next
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return Subscription(messages: stream, continuation: continuation)
    }

    private func broadcast(_ events: [Event]) {
        let subscribers = state.withLock { Array($0.subscribers.values) }
        for subscriber in subscribers {
            for event in events
            where subscriber.accountID == event.accountID && (subscriber.paymentID.map { $0 == event.paymentID } ?? true) {
                subscriber.continuation.yield(.event(event))
            }
            subscriber.continuation.yield(.tick)
        }
    }

    // MARK: the reader

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // The accounts someone watches, with their cursors; the others are forgotten.
            let watched = state.withLock { state -> [(String, Int64)] in
                let accounts = Set(state.subscribers.values.map(\.accountID))
                state.cursors = state.cursors.filter { accounts.contains($0.key) }
                return state.cursors.map { ($0.key, $0.value) }
            }
            if watched.isEmpty {
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            var events: [Event] = []
            do {
                events = try await read(watched)
                state.withLock { state in
                    for event in events where state.cursors[event.accountID].map({ $0 < event.seq }) ?? false {
                        state.cursors[event.accountID] = event.seq
                    }
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

    /// The events past each account's cursor, up to 100 an account, in one query.
    private func read(_ watched: [(String, Int64)]) async throws -> [Event] {
        let rows = try await database.query(
            """
            SELECT e.account_id, e.seq, e.type, coalesce(e.payment_id, ''), coalesce(e.payment_link_id, '')
            FROM unnest(\(watched.map(\.0))::text[], \(watched.map(\.1))::bigint[]) AS c(account_id, after)
            CROSS JOIN LATERAL (
                SELECT account_id, seq, type, payment_id, payment_link_id FROM payment_events
                WHERE account_id = c.account_id AND seq > c.after ORDER BY seq LIMIT 100) e
            ORDER BY e.seq
            """,
            logger: logger
        )
        var events: [Event] = []
        for try await (account, seq, type, payment, link) in rows.decode((String, Int64, String, String, String).self) {
            events.append(Event(seq: seq, accountID: account, type: type, paymentID: payment, linkID: link))
        }
        return events
    }
}
