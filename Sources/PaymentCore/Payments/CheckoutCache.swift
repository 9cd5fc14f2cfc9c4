import Synchronization

/// What every checkout reads and merchants rarely change, kept in this process for a few seconds:
/// links, forms, each merchant's payment methods and name. Changes made through this process forget
/// the entry at once; other processes' copies age out within `ttl`.
///
/// A stale copy can refuse nothing wrongly and accept nothing wrongly: the start batch re-checks
/// the link or form and the method under lock and answers `stale` when they moved, and a checkout
/// about to refuse on the strength of a copy (card not accepted, link closed) reads afresh first.
public final class CheckoutCache: Sendable {
    private struct Entry<Value: Sendable>: Sendable {
        let value: Value
        let until: ContinuousClock.Instant
    }

    private struct Store: Sendable {
        var links: [LinkID: Entry<PaymentLink>] = [:]
        var forms: [FormID: Entry<PaymentForm>] = [:]
        var methods: [AccountID: Entry<[PaymentMethod]>] = [:]
        var names: [AccountID: Entry<String>] = [:]
    }

    /// How long a copy is used; zero turns the cache off.
    public let ttl: Duration
    /// Entries per kind before the expired ones are swept (and, if that is not enough, all of them).
    private let capacity: Int
    private let store = Mutex(Store())

    public init(ttl: Duration = .seconds(5), capacity: Int = 50_000) {
        self.ttl = ttl
        self.capacity = capacity
    }

    // MARK: reading through

    func link(_ id: LinkID, load: () async throws -> PaymentLink?) async rethrows -> PaymentLink? {
        let now = ContinuousClock.now
        if let hit = store.withLock({ $0.links[id] }), hit.until > now { return hit.value }
        guard let fresh = try await load() else { return nil }
        remember(fresh, now: now) {
            $0.links[id] = $1
        } sweep: {
            $0.links = Self.swept($0.links, now, capacity)
        }
        return fresh
    }

    func form(_ id: FormID, load: () async throws -> PaymentForm?) async rethrows -> PaymentForm? {
        let now = ContinuousClock.now
        if let hit = store.withLock({ $0.forms[id] }), hit.until > now { return hit.value }
        guard let fresh = try await load() else { return nil }
        remember(fresh, now: now) {
            $0.forms[id] = $1
        } sweep: {
            $0.forms = Self.swept($0.forms, now, capacity)
        }
        return fresh
    }

    func methods(of accountID: AccountID, load: () async throws -> [PaymentMethod]) async rethrows -> [PaymentMethod] {
        let now = ContinuousClock.now
        if let hit = store.withLock({ $0.methods[accountID] }), hit.until > now { return hit.value }
        let fresh = try await load()
        remember(fresh, now: now) {
            $0.methods[accountID] = $1
        } sweep: {
            $0.methods = Self.swept($0.methods, now, capacity)
        }
        return fresh
    }

    func name(of accountID: AccountID, load: () async throws -> String) async rethrows -> String {
        let now = ContinuousClock.now
        if let hit = store.withLock({ $0.names[accountID] }), hit.until > now { return hit.value }
        let fresh = try await load()
        remember(fresh, now: now) {
            $0.names[accountID] = $1
        } sweep: {
            $0.names = Self.swept($0.names, now, capacity)
        }
        return fresh
    }

    private func remember<Value: Sendable>(
        _ value: Value, now: ContinuousClock.Instant, _ set: (inout Store, Entry<Value>) -> Void, sweep: (inout Store) -> Void
    ) {
        guard ttl > .zero else { return }
        let entry = Entry(value: value, until: now.advanced(by: ttl))
        store.withLock { store in
            set(&store, entry)
            sweep(&store)
        }
    }

    private static func swept<Key, Value>(_ entries: [Key: Entry<Value>], _ now: ContinuousClock.Instant, _ capacity: Int) -> [Key: Entry<Value>] {
        guard entries.count > capacity else { return entries }
        let live = entries.filter { $0.value.until > now }
        return live.count > capacity ? [:] : live
    }

    // MARK: keeping up with this process's own changes

    /// A checkout of this process took one use of the link: the copy counts it, so this process's
    /// pages say "paid" or "used up" at once (other processes' copies catch up within the TTL).
    func tookUse(ofLink id: LinkID) {
        store.withLock { store in
            guard let entry = store.links[id] else { return }
            store.links[id] = Entry(value: entry.value.withUses(entry.value.uses + 1), until: entry.until)
        }
    }

    func tookUse(ofForm id: FormID) {
        store.withLock { store in
            guard let entry = store.forms[id] else { return }
            store.forms[id] = Entry(value: entry.value.withUses(entry.value.uses + 1), until: entry.until)
        }
    }

    // MARK: forgetting

    public func forget(link id: LinkID) { store.withLock { _ = $0.links.removeValue(forKey: id) } }
    public func forget(form id: FormID) { store.withLock { _ = $0.forms.removeValue(forKey: id) } }
    public func forget(methodsOf accountID: AccountID) { store.withLock { _ = $0.methods.removeValue(forKey: accountID) } }
    public func forget(nameOf accountID: AccountID) { store.withLock { _ = $0.names.removeValue(forKey: accountID) } }
}
