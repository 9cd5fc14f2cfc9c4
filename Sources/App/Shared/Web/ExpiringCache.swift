import Synchronization

/// Values kept for a while, at most `capacity` of them: what the page caches (the dashboard's
/// charts, the kept checkout page) share. At the bound, expired entries go first, then all.
final class ExpiringCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry: Sendable {
        let value: Value
        let until: ContinuousClock.Instant
    }

    let ttl: Duration
    let capacity: Int
    private let entries = Mutex<[Key: Entry]>([:])

    init(ttl: Duration, capacity: Int) {
        self.ttl = ttl
        self.capacity = capacity
    }

    func get(_ key: Key) -> Value? {
        let now = ContinuousClock.now
        return entries.withLock { entries in entries[key].flatMap { $0.until > now ? $0.value : nil } }
    }

    /// The kept value, or `load`'s, kept from now on.
    func value(_ key: Key, load: () async throws -> Value) async rethrows -> Value {
        if let kept = get(key) { return kept }
        let loaded = try await load()
        put(key, loaded)
        return loaded
    }

    func put(_ key: Key, _ value: Value) {
        let now = ContinuousClock.now
        entries.withLock { entries in
            if entries.count >= capacity { entries = entries.filter { $0.value.until > now } }
            if entries.count >= capacity { entries.removeAll() }
            entries[key] = Entry(value: value, until: now.advanced(by: ttl))
        }
    }
}
