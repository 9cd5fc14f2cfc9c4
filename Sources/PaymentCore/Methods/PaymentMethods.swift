import Foundation
import Logging
import PostgresNIO
import Synchronization

/// The issuers a merchant accepts and in which currencies.
public struct PaymentMethods: Sendable {
    let database: PostgresClient
    let issuers: IssuerCatalogCache
    let cache: CheckoutCache
    let logger: Logger

    public init(database: PostgresClient, issuers: IssuerCatalogCache, cache: CheckoutCache = CheckoutCache(ttl: .zero), logger: Logger) {
        self.database = database
        self.issuers = issuers
        self.cache = cache
        self.logger = logger
    }

    /// The methods for a checkout: a copy at most the cache's TTL old unless `fresh`.
    public func cachedList(accountID: AccountID, fresh: Bool) async throws -> [PaymentMethod] {
        if fresh { cache.forget(methodsOf: accountID) }
        return try await cache.methods(of: accountID) { try await list(accountID: accountID) }
    }

    public func list(accountID: AccountID) async throws -> [PaymentMethod] {
        var methods: [PaymentMethod] = []
        for try await method in try await database.execute(MethodsOfAccount(key: accountID), logger: logger) { methods.append(method) }
        return methods
    }

    public func find(accountID: AccountID, id: MethodID) async throws -> PaymentMethod? {
        try await list(accountID: accountID).first { $0.id == id }
    }

    /// Every currency at least one method accepts.
    public func acceptedCurrencies(accountID: AccountID) async throws -> Set<Currency> {
        Set(try await list(accountID: accountID).flatMap(\.currencies))
    }

    /// Checks an issuer id and currency codes as typed (any case) against the catalogue.
    public func validate(issuerID: String, currencies codes: [String]) async throws -> (Issuer, [Currency]) {
        guard let issuer = try await issuers.catalog().issuer(id: issuerID) else { throw PaymentError.issuerNotFound(issuerID) }
        let unsupported = codes.filter { code in Currency(code: code).map { !issuer.supports($0) } ?? true }
        guard unsupported.isEmpty else { throw PaymentError.unsupportedCurrencies(unsupported.map { $0.uppercased() }) }
        let currencies = Array(Set(codes.compactMap(Currency.init(code:)))).sorted()
        guard !currencies.isEmpty else { throw PaymentError.unsupportedCurrencies([]) }
        return (issuer, currencies)
    }

    public func add(accountID: AccountID, issuerID: String, currencies codes: [String]) async throws -> PaymentMethod {
        let (issuer, currencies) = try await validate(issuerID: issuerID, currencies: codes)
        let id = MethodID.make()
        do {
            let rows = try await database.query(
                """
                INSERT INTO payment_methods (account_id, id, issuer_id, currencies)
                VALUES (\(accountID), \(id), \(issuer.id), \(currencies.map(\.code)))
                RETURNING created_at
                """,
                logger: logger
            )
            var created = Date()
            for try await value in rows.decode(Date.self) { created = value }
            cache.forget(methodsOf: accountID)
            return PaymentMethod(id: id, accountID: accountID, issuerID: issuer.id, currencies: currencies, createdAt: created)
        } catch let error where error.isUniqueViolation() {
            throw PaymentError.methodExists
        }
    }

    /// Accepts every issuer of `network` the merchant does not accept yet, each in the chosen
    /// currencies it settles in (one choice for the whole network), in one statement. Refuses
    /// currencies no issuer of the network settles in, an empty choice, and a network already
    /// accepted whole (`methodExists`). Returns the methods added, in catalogue order.
    public func addNetwork(accountID: AccountID, network: CardNetwork, currencies codes: [String]) async throws -> [PaymentMethod] {
        let catalog = try await issuers.catalog()
        let ofNetwork = catalog.issuers.filter { $0.network == network }
        let unsupported = codes.filter { code in Currency(code: code).map { currency in !ofNetwork.contains { $0.supports(currency) } } ?? true }
        guard unsupported.isEmpty else { throw PaymentError.unsupportedCurrencies(unsupported.map { $0.uppercased() }) }
        let chosen = Set(codes.compactMap(Currency.init(code:)))
        guard !chosen.isEmpty else { throw PaymentError.unsupportedCurrencies([]) }
        let accepted = Set(try await list(accountID: accountID).map(\.issuerID))
        let adding = ofNetwork.filter { !accepted.contains($0.id) }.compactMap { issuer -> (Issuer, [Currency])? in
            let currencies = issuer.currencies.filter(chosen.contains)
            return currencies.isEmpty ? nil : (issuer, currencies)
        }
        guard !adding.isEmpty else { throw PaymentError.methodExists }
        let ids = adding.map { _ in MethodID.make() }
        // Arrays of arrays do not bind; each method's currencies travel as one comma-joined text.
        let rows = try await database.query(
            """
            INSERT INTO payment_methods (account_id, id, issuer_id, currencies)
            SELECT \(accountID), m.id, m.issuer, string_to_array(m.codes, ',')
            FROM unnest(\(ids.map(\.rawValue)), \(adding.map(\.0.id)), \(adding.map { $0.1.map(\.code).joined(separator: ",") })) AS m (id, issuer, codes)
            ON CONFLICT DO NOTHING
            RETURNING id, created_at
            """,
            logger: logger
        )
        var created: [String: Date] = [:]
        for try await (id, at) in rows.decode((String, Date).self) { created[id] = at }
        cache.forget(methodsOf: accountID)
        return zip(ids, adding).compactMap { id, added in
            created[id.rawValue].map { PaymentMethod(id: id, accountID: accountID, issuerID: added.0.id, currencies: added.1, createdAt: $0) }
        }
    }

    /// Changes the currencies; refuses to drop one that open payment links still need.
    public func update(accountID: AccountID, id: MethodID, currencies codes: [String]) async throws -> PaymentMethod {
        guard let current = try await find(accountID: accountID, id: id) else { throw PaymentError.notFound }
        let (_, currencies) = try await validate(issuerID: current.issuerID, currencies: codes)
        let removed = current.currencies.filter { !currencies.contains($0) }
        let dependents = try await dependentLinks(accountID: accountID, methodID: id, removing: removed)
        guard dependents == 0 else { throw PaymentError.methodInUse(links: dependents) }
        try await database.query(
            """
            UPDATE payment_methods SET currencies = \(currencies.map(\.code)), updated_at = now()
            WHERE account_id = \(accountID) AND id = \(id)
            """,
            logger: logger
        )
        cache.forget(methodsOf: accountID)
        return PaymentMethod(id: id, accountID: accountID, issuerID: current.issuerID, currencies: currencies, createdAt: current.createdAt)
    }

    /// Removes the method unless open payment links depend on it.
    public func remove(accountID: AccountID, id: MethodID) async throws {
        guard let current = try await find(accountID: accountID, id: id) else { throw PaymentError.notFound }
        let dependents = try await dependentLinks(accountID: accountID, methodID: id, removing: current.currencies)
        guard dependents == 0 else { throw PaymentError.methodInUse(links: dependents) }
        try await database.query("DELETE FROM payment_methods WHERE account_id = \(accountID) AND id = \(id)", logger: logger)
        cache.forget(methodsOf: accountID)
    }

    /// Makes the account accept exactly these issuers in these currencies (the seed API's
    /// `PUT /v1/users/me`). Everything is checked before anything changes: an unknown issuer, an
    /// unsupported currency, or an open link that would lose its method refuses the whole set.
    public func replaceAll(accountID: AccountID, with wanted: [(issuer: String, currencies: [String])]) async throws {
        defer { cache.forget(methodsOf: accountID) }
        var validated: [(Issuer, [Currency])] = []
        for (issuer, codes) in wanted { validated.append(try await validate(issuerID: issuer, currencies: codes)) }
        let current = try await list(accountID: accountID)
        for method in current {
            let kept = validated.first { $0.0.id == method.issuerID }?.1 ?? []
            let removed = method.currencies.filter { !kept.contains($0) }
            let dependents = try await dependentLinks(accountID: accountID, methodID: method.id, removing: removed)
            guard dependents == 0 else { throw PaymentError.methodInUse(links: dependents) }
        }
        for method in current where !validated.contains(where: { $0.0.id == method.issuerID }) {
            try await database.query("DELETE FROM payment_methods WHERE account_id = \(accountID) AND id = \(method.id)", logger: logger)
        }
        for (issuer, currencies) in validated {
            if let existing = current.first(where: { $0.issuerID == issuer.id }) {
                try await database.query(
                    """
                    UPDATE payment_methods SET currencies = \(currencies.map(\.code)), updated_at = now()
                    WHERE account_id = \(accountID) AND id = \(existing.id)
                    """,
                    logger: logger
                )
            } else {
                _ = try await add(accountID: accountID, issuerID: issuer.id, currencies: currencies.map(\.code))
            }
        }
    }

    /// Open links in a removed currency that name this method, or that no other method would
    /// still accept.
    func dependentLinks(accountID: AccountID, methodID: MethodID, removing currencies: [Currency]) async throws -> Int {
        try await linksNeeding(accountID: accountID, methodID: methodID, removing: currencies, limit: Int.max).count
    }

    /// The open links that would lose their only way to be paid if the method stopped taking
    /// `currencies` (all of them: removing it), newest first: what a refused change names.
    public func linksNeeding(
        accountID: AccountID, methodID: MethodID, removing currencies: [Currency]? = nil, limit: Int = 10
    ) async throws -> [(id: LinkID, description: String, currency: String)] {
        var removing = currencies ?? []
        if currencies == nil, let current = try await find(accountID: accountID, id: methodID) { removing = current.currencies }
        guard !removing.isEmpty else { return [] }
        let rows = try await database.query(
            """
            SELECT l.id, l.description, l.currency FROM payment_links l
            WHERE l.account_id = \(accountID) AND l.revoked_at IS NULL AND l.expires_at > now() AND l.uses < l.max_uses
              AND l.currency = ANY(\(removing.map(\.code)))
              AND (\(methodID) = ANY(l.payment_method_ids)
                   OR (cardinality(l.payment_method_ids) = 0 AND NOT EXISTS (
                        SELECT 1 FROM payment_methods m
                        WHERE m.account_id = l.account_id AND m.id <> \(methodID) AND l.currency = ANY(m.currencies))))
            ORDER BY l.created_at DESC, l.id DESC
            LIMIT \(Int64(min(limit, Int(Int32.max))))
            """,
            logger: logger
        )
        var links: [(id: LinkID, description: String, currency: String)] = []
        for try await (id, description, currency) in rows.decode((LinkID, String, String).self) { links.append((id, description, currency)) }
        return links
    }

    /// The open forms in a currency no other method of the account takes: they stop taking
    /// payments in it if this method stops (shown before a change; forms do not refuse it).
    /// `currencies`: the method's, when the caller has just read it (else read here).
    public func formsNeeding(
        accountID: AccountID, methodID: MethodID, currencies: [Currency]? = nil
    ) async throws -> [(id: FormID, title: String, currency: String)] {
        let known: [Currency]?
        if let currencies { known = currencies } else { known = try await find(accountID: accountID, id: methodID)?.currencies }
        guard let known, !known.isEmpty else { return [] }
        let rows = try await database.query(
            """
            SELECT f.id, f.title, f.currency FROM payment_forms f
            WHERE f.account_id = \(accountID) AND f.archived_at IS NULL AND (f.expires_at IS NULL OR f.expires_at > now())
              AND (f.max_uses IS NULL OR f.uses < f.max_uses) AND f.currency = ANY(\(known.map(\.code)))
              AND NOT EXISTS (
                  SELECT 1 FROM payment_methods m
                  WHERE m.account_id = f.account_id AND m.id <> \(methodID) AND f.currency = ANY(m.currencies))
            ORDER BY f.created_at DESC, f.id DESC LIMIT 10
            """,
            logger: logger
        )
        var forms: [(id: FormID, title: String, currency: String)] = []
        for try await (id, title, currency) in rows.decode((FormID, String, String).self) { forms.append((id, title, currency)) }
        return forms
    }
}

/// Loads the issuer catalogue (seeded by migration) once at start-up.
public enum IssuerDirectory {
    public static func load(from database: PostgresClient, logger: Logger) async throws -> IssuerCatalog {
        try await database.withConnection { try await load(from: $0, logger: logger) }
    }

    public static func load(from connection: PostgresConnection, logger: Logger) async throws -> IssuerCatalog {
        let rows = try await connection.query(
            """
            SELECT i.id, i.name, i.network, i.currencies, i.country,
                   coalesce(array_agg(r.low ORDER BY r.low) FILTER (WHERE r.low IS NOT NULL), '{}'),
                   coalesce(array_agg(r.high ORDER BY r.low) FILTER (WHERE r.low IS NOT NULL), '{}')
            FROM issuers i LEFT JOIN issuer_bin_ranges r ON r.issuer_id = i.id
            GROUP BY i.id ORDER BY i.id
            """,
            logger: logger
        )
        var issuers: [Issuer] = []
        for try await (id, name, network, codes, country, lows, highs) in rows.decode(
            (String, String, String, [String], String, [Int32], [Int32]).self)
        {
            guard let network = CardNetwork(rawValue: network) else { continue }
            let ranges = zip(lows, highs).map { Int($0)...Int($1) }
            issuers.append(
                Issuer(
                    id: id, name: name, network: network, binRanges: ranges, currencies: codes.compactMap(Currency.init(code:)), country: country))
        }
        return IssuerCatalog(issuers: issuers)
    }
}

/// The issuer catalogue, read from PostgreSQL on first use and kept (issuers change only by
/// migration). Lazy so that the server starts, and says it is not ready, while PostgreSQL is down.
public final class IssuerCatalogCache: Sendable {
    private let database: PostgresClient?
    private let logger: Logger
    private let loaded: Mutex<IssuerCatalog?>

    public init(database: PostgresClient, logger: Logger) {
        self.database = database
        self.logger = logger
        self.loaded = Mutex(nil)
    }

    /// A fixed catalogue (tests of pure logic).
    public init(catalog: IssuerCatalog) {
        self.database = nil
        self.logger = Logger(label: "kassa.issuers")
        self.loaded = Mutex(catalog)
    }

    public func catalog() async throws -> IssuerCatalog {
        if let catalog = loaded.withLock({ $0 }) { return catalog }
        guard let database else { return IssuerCatalog(issuers: []) }
        let catalog = try await IssuerDirectory.load(from: database, logger: logger)
        loaded.withLock { $0 = catalog }
        return catalog
    }
}
