import Foundation
import Logging
import PostgresNIO

/// Payment links as stored (signing and pages come with the checkout).
public struct PaymentLinks: Sendable {
    let database: PostgresClient
    let methods: PaymentMethods
    let settings: Payments.Settings
    let logger: Logger

    /// Links live between an hour and 90 days; a week unless told otherwise.
    public static let lifetimes: ClosedRange<Int> = 3600...(90 * 86400)
    public static let defaultLifetime = 7 * 86400

    public struct NewLink: Sendable {
        public var amount: Money
        public var description: String
        public var expiresIn: Int
        public var maxUses: Int
        public var paymentMethodIDs: [String]

        public init(amount: Money, description: String, expiresIn: Int = PaymentLinks.defaultLifetime, maxUses: Int = 1, paymentMethodIDs: [String] = []) {
            self.amount = amount
            self.description = description
            self.expiresIn = expiresIn
            self.maxUses = maxUses
            self.paymentMethodIDs = paymentMethodIDs
        }
    }

    public func create(accountID: String, _ link: NewLink) async throws -> PaymentLink {
        guard link.amount.minorUnits > 0, link.amount.minorUnits <= settings.maximumAmount else { throw PaymentError.amountOutOfRange }
        let accepted = try await methods.list(accountID: accountID)
        let usable = accepted.filter { $0.accepts(link.amount.currency) && (link.paymentMethodIDs.isEmpty || link.paymentMethodIDs.contains($0.id)) }
        guard !usable.isEmpty else { throw PaymentError.currencyNotAccepted(link.amount.currency) }
        let id = Identifier.make("plink")
        let rows = try await database.query(
            """
            INSERT INTO payment_links (account_id, id, amount, currency, description, max_uses, payment_method_ids, expires_at)
            VALUES (\(accountID), \(id), \(link.amount.minorUnits), \(link.amount.currency.code), \(link.description),
                    \(link.maxUses), \(link.paymentMethodIDs), now() + make_interval(secs => \(Double(link.expiresIn))))
            RETURNING \(unescaped: PaymentLink.columns)
            """,
            logger: logger
        )
        var created: [PaymentLink] = []
        for try await row in rows { created.append(try PaymentLink(row: row)) }
        guard let first = created.first else { throw PaymentError.linkNotFound }
        return first
    }

    /// A link by id alone (the checkout knows no account yet).
    public func find(id: String) async throws -> PaymentLink? {
        let rows = try await database.query("SELECT \(unescaped: PaymentLink.columns) FROM payment_links WHERE id = \(id)", logger: logger)
        var found: [PaymentLink] = []
        for try await row in rows { found.append(try PaymentLink(row: row)) }
        return found.first
    }

    public func revoke(accountID: String, id: String) async throws -> PaymentLink {
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
        return link
    }
}
