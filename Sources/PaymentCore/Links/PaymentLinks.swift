import Foundation
import Logging
import PostgresNIO

/// Payment links as stored (signing and pages come with the checkout).
public struct PaymentLinks: Sendable {
    let database: PostgresClient
    let methods: PaymentMethods
    let settings: Payments.Settings
    let cache: CheckoutCache
    let log: EventLog
    let logger: Logger

    /// Links live between an hour and 90 days; a week unless told otherwise.
    public static let lifetimes: ClosedRange<Int> = 3600...(90 * 86400)
    public static let defaultLifetime = 7 * 86400

    public struct NewLink: Sendable {
        public var amount: Money
        public var description: String
        public var expiresIn: Int
        public var maxUses: Int
        public var paymentMethodIDs: [MethodID]
        /// The site its payments are for (`Realm`), or nil.
        public var realm: String?
        public var captureMethod: CaptureMethod

        public init(
            amount: Money, description: String, expiresIn: Int = PaymentLinks.defaultLifetime, maxUses: Int = 1, paymentMethodIDs: [MethodID] = [],
            realm: String? = nil, captureMethod: CaptureMethod = .automatic
        ) {
            self.captureMethod = captureMethod
            self.amount = amount
            self.description = description
            self.expiresIn = expiresIn
            self.maxUses = maxUses
            self.paymentMethodIDs = paymentMethodIDs
            self.realm = realm
        }
    }

    /// The fields of a new link, named as the form and the API name them.
    public enum Field: String, Sendable, CaseIterable {
        case amount, currency, description
        case expiresIn = "expires_in"
        case maxUses = "max_uses"
        case paymentMethods = "payment_methods"
        case realm
    }

    /// Every rule a new link must keep, checked here and nowhere else: the HTML form and the API
    /// both show these problems. `methods` are the account's own.
    public static func problems(_ link: NewLink, methods: [PaymentMethod], maximumAmount: Int64) -> [FieldProblem] {
        var problems: [FieldProblem] = []
        func add(_ field: Field, _ message: String, code: String? = nil) {
            problems.append(FieldProblem(field: field.rawValue, message: message, code: code))
        }
        if link.amount.minorUnits <= 0 || link.amount.minorUnits > maximumAmount {
            let largest = Money(minorUnits: maximumAmount, currency: link.amount.currency).formatted
            add(.amount, "Enter an amount greater than zero and at most \(largest).")
        }
        if !methods.contains(where: { $0.accepts(link.amount.currency) }) {
            add(.currency, "None of your payment methods accepts \(link.amount.currency.code).", code: "no_payment_method_for_currency")
        }
        let description = link.description.trimmingCharacters(in: .whitespacesAndNewlines)
        if description.isEmpty {
            add(.description, "Say what the payment is for; the payer sees it.")
        } else if link.description.length > 500 {
            add(.description, "Use at most 500 characters for the description.")
        } else if link.description.unicodeScalars.contains("\u{0}") {
            add(.description, "The description cannot contain a NUL character.")
        }
        if !lifetimes.contains(link.expiresIn) {
            add(.expiresIn, "A link stays valid from 1 hour (3600 seconds) to 90 days (7776000 seconds).")
        }
        if !(1...1_000_000).contains(link.maxUses) {
            add(.maxUses, "A link takes from 1 to 1,000,000 payments.")
        }
        if link.paymentMethodIDs.contains(where: { id in !methods.contains { $0.id == id } }) {
            add(.paymentMethods, "Choose among your own payment methods.", code: "payment_method_invalid")
        } else if !link.paymentMethodIDs.isEmpty,
            !methods.contains(where: { link.paymentMethodIDs.contains($0.id) && $0.accepts(link.amount.currency) })
        {
            add(.paymentMethods, "None of the chosen methods accepts \(link.amount.currency.code).", code: "no_payment_method_for_currency")
        }
        if let realm = link.realm, let problem = Realm.problem(realm) { add(.realm, problem, code: "realm_invalid") }
        return problems
    }

    /// Creates the link, or throws `FieldProblems` naming every rule it breaks (nothing written).
    public func create(accountID: AccountID, _ link: NewLink) async throws -> PaymentLink {
        let problems = Self.problems(link, methods: try await methods.list(accountID: accountID), maximumAmount: settings.maximumAmount)
        guard problems.isEmpty else { throw FieldProblems(problems) }
        let id = LinkID.make()
        let rows = try await database.query(
            """
            INSERT INTO payment_links (account_id, id, amount, currency, description, max_uses, payment_method_ids, expires_at, realm, capture_method)
            VALUES (\(accountID), \(id), \(link.amount.minorUnits), \(link.amount.currency.code), \(link.description),
                    \(link.maxUses), \(link.paymentMethodIDs), now() + make_interval(secs => \(Double(link.expiresIn))), \(link.realm),
                    \(link.captureMethod.rawValue))
            RETURNING \(unescaped: PaymentLink.columns)
            """,
            logger: logger
        )
        var created: [PaymentLink] = []
        for try await row in rows { created.append(try PaymentLink(row: row)) }
        guard let first = created.first else { throw PaymentError.linkNotFound }
        return first
    }

    /// A link by id alone (the checkout knows no account yet), read from PostgreSQL.
    public func find(id: LinkID) async throws -> PaymentLink? {
        try await firstRow(database.execute(LinkByID(key: id), logger: logger))
    }

    /// A link by id for the payer's pages: a copy at most the cache's TTL old when `fresh` is false.
    /// Its terms never change; its state (revoked, uses) may be stale, so a caller refuses a payer
    /// only on a fresh read (`Checkout` and the start batch re-check it anyway).
    public func find(id: LinkID, fresh: Bool) async throws -> PaymentLink? {
        if fresh { cache.forget(link: id) }
        return try await cache.link(id) { try await find(id: id) }
    }

    public func find(accountID: AccountID, id: LinkID) async throws -> PaymentLink? {
        try await fetch("SELECT \(unescaped: PaymentLink.columns) FROM payment_links WHERE account_id = \(accountID) AND id = \(id)").first
    }

    /// Newest first, optionally only those in one status.
    public func list(accountID: AccountID, status: LinkStatus? = nil, limit: Int = 200) async throws -> [PaymentLink] {
        let condition: String =
            switch status {
            case nil: "true"
            case .active?: "revoked_at IS NULL AND uses < max_uses AND expires_at > now()"
            case .revoked?: "revoked_at IS NOT NULL"
            case .completed?: "revoked_at IS NULL AND uses >= max_uses"
            case .expired?: "revoked_at IS NULL AND uses < max_uses AND expires_at <= now()"
            }
        return try await fetch(
            """
            SELECT \(unescaped: PaymentLink.columns) FROM payment_links
            WHERE account_id = \(accountID) AND \(unescaped: condition)
            ORDER BY created_at DESC, id DESC LIMIT \(limit)
            """
        )
    }

    /// Newest first after the link `after` (keyset pagination); one extra row tells if more follow.
    public func page(accountID: AccountID, after: String?, limit: Int) async throws -> (links: [PaymentLink], hasMore: Bool) {
        var links: [PaymentLink]
        if let after {
            links = try await fetch(
                """
                SELECT \(unescaped: PaymentLink.columns) FROM payment_links
                WHERE account_id = \(accountID)
                  AND (created_at, id) < (SELECT created_at, id FROM payment_links WHERE account_id = \(accountID) AND id = \(after))
                ORDER BY created_at DESC, id DESC LIMIT \(limit + 1)
                """
            )
        } else {
            links = try await fetch(
                """
                SELECT \(unescaped: PaymentLink.columns) FROM payment_links WHERE account_id = \(accountID)
                ORDER BY created_at DESC, id DESC LIMIT \(limit + 1)
                """
            )
        }
        let more = links.count > limit
        if more { links.removeLast() }
        return (links, more)
    }

    /// The merchant's display name, for the payer's pages (cached for a few seconds).
    public func merchantName(accountID: AccountID) async throws -> String {
        try await cache.name(of: accountID) {
            let rows = try await database.query("SELECT name FROM accounts WHERE id = \(accountID)", logger: logger)
            for try await name in rows.decode(String.self) { return name }
            return ""
        }
    }

    /// The merchant's name and payment methods, for the payer's pages (both cached).
    public func merchantWithMethods(accountID: AccountID) async throws -> (name: String, methods: [PaymentMethod]) {
        (try await merchantName(accountID: accountID), try await methods.cachedList(accountID: accountID, fresh: false))
    }

    /// Marks links past their expiry as expired, once each, with their events (`EventLog.expireLinks`).
    /// Several processes may run it. Returns how many.
    public func expireDue(limit: Int = 100) async throws -> Int {
        try await log.expireLinks(limit: limit)
    }

    private func fetch(_ query: PostgresQuery) async throws -> [PaymentLink] {
        let rows = try await database.query(query, logger: logger)
        var links: [PaymentLink] = []
        for try await row in rows { links.append(try PaymentLink(row: row)) }
        return links
    }

    public func revoke(accountID: AccountID, id: LinkID) async throws -> PaymentLink {
        let rows = try await database.query(
            """
            UPDATE payment_links SET revoked_at = coalesce(revoked_at, now())
            WHERE account_id = \(accountID) AND id = \(id)
            RETURNING \(unescaped: PaymentLink.columns)
            """,
            logger: logger
        )
        var found: [PaymentLink] = []
        for try await row in rows { found.append(try PaymentLink(row: row)) }
        guard let link = found.first else { throw PaymentError.linkNotFound }
        cache.forget(link: id)
        return link
    }
}
