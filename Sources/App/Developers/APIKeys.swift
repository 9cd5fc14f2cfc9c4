import Crypto
import Foundation
import Logging
import PaymentCore
import PostgresNIO
import RedisClient

/// What an authenticated API request may do.
public struct APIClient: Sendable, Equatable {
    public let accountID: AccountID
    public let keyID: String
    public let kind: APIKeys.Kind
    public let scopes: Set<String>

    func allows(_ scope: String) -> Bool { scopes.contains(scope) }
}

/// API keys: `sk_…` secret keys with scopes, `pk_…` publishable keys that may only start
/// checkouts (create payment links). Shown once, stored as SHA-256, found by their first twelve
/// characters and compared in constant time.
public struct APIKeys: Sendable {
    let database: PostgresClient
    let redis: RedisClient
    let prefix: String
    let logger: Logger

    public enum Kind: String, Sendable, Equatable {
        case secret, publishable
    }

    /// Read and write per resource. A secret key gets all of them unless told otherwise.
    static let scopes = [
        "payment_methods:read", "payment_methods:write", "payment_links:read", "payment_links:write", "payments:read",
        "payments:write", "events:read", "webhook_endpoints:read", "webhook_endpoints:write",
    ]
    static let publishableScopes = ["payment_links:create", "checkout_sessions:create"]

    public struct Key: Sendable, Equatable {
        public let id: String
        public let name: String
        public let kind: Kind
        public let lookup: String
        public let scopes: [String]
        public let expiresAt: Date?
        public let revokedAt: Date?
        public let createdAt: Date

        func isActive(at now: Date) -> Bool { revokedAt == nil && (expiresAt.map { $0 > now } ?? true) }
    }

    /// A new key: its record and the secret, which is never shown again.
    /// The largest amount, in whole units of any currency, a publishable key of the account may
    /// ask for (links and checkout sessions); nil for no limit of its own.
    public func publishableLimit(accountID: AccountID) async throws -> Int64? {
        let rows = try await database.query("SELECT publishable_limit FROM accounts WHERE id = \(accountID)", logger: logger)
        for try await limit in rows.decode(Int64?.self) { return limit }
        return nil
    }

    public func setPublishableLimit(accountID: AccountID, to limit: Int64?) async throws {
        try await database.query("UPDATE accounts SET publishable_limit = \(limit) WHERE id = \(accountID)", logger: logger)
    }

    /// Refuses an amount above the account's limit for publishable keys (422
    /// `amount_above_publishable_limit`); secret keys are not limited here.
    func checkPublishableAmount(_ amount: Money, client: APIClient) async throws {
        guard client.kind == .publishable, let limit = try await publishableLimit(accountID: client.accountID) else { return }
        let (most, overflow) = limit.multipliedReportingOverflow(by: amount.currency.minorUnitsPerMajor)
        guard !overflow, amount.minorUnits > most else { return }
        throw APIError.unprocessable(
            "amount_above_publishable_limit",
            "Publishable keys of this account may ask for at most \(Money(minorUnits: most, currency: amount.currency).formatted); use a secret key from your server for more.",
            param: "amount")
    }

    public func create(accountID: AccountID, name: String, kind: Kind, scopes: [String], expiresAt: Date?) async throws -> (Key, String) {
        let secret =
            (kind == .secret ? "sk_" : "pk_") + String(Identifier.make("x").dropFirst(2)) + String(Identifier.make("x").dropFirst(2).prefix(8))
        let id = Identifier.make("key")
        let lookup = String(secret.prefix(12))
        let rows = try await database.query(
            """
            INSERT INTO api_keys (account_id, id, name, kind, lookup, secret_hash, scopes, expires_at)
            VALUES (\(accountID), \(id), \(name), \(kind.rawValue), \(lookup), \(Self.hash(secret)), \(scopes), \(expiresAt))
            RETURNING created_at
            """,
            logger: logger
        )
        var created = Date()
        for try await value in rows.decode(Date.self) { created = value }
        return (Key(id: id, name: name, kind: kind, lookup: lookup, scopes: scopes, expiresAt: expiresAt, revokedAt: nil, createdAt: created), secret)
    }

    public func list(accountID: AccountID) async throws -> [Key] {
        let rows = try await database.query(
            """
            SELECT id, name, kind, lookup, scopes, expires_at, revoked_at, created_at FROM api_keys
            WHERE account_id = \(accountID) ORDER BY created_at DESC, id DESC
            """,
            logger: logger
        )
        var keys: [Key] = []
        for try await (id, name, kind, lookup, scopes, expires, revoked, created) in rows.decode(
            (String, String, String, String, [String], Date?, Date?, Date).self)
        {
            keys.append(
                Key(
                    id: id, name: name, kind: Kind(rawValue: kind) ?? .secret, lookup: lookup, scopes: scopes, expiresAt: expires, revokedAt: revoked,
                    createdAt: created))
        }
        return keys
    }

    public func revoke(accountID: AccountID, id: String) async throws -> Bool {
        let rows = try await database.query(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE account_id = \(accountID) AND id = \(id) RETURNING id",
            logger: logger
        )
        var found = false
        for try await _ in rows.decode(String.self) { found = true }
        return found
    }

    /// A new secret for the key; the old one keeps working for `grace` seconds (0: stops now).
    public func roll(accountID: AccountID, id: String, grace: Int) async throws -> (Key, String)? {
        guard let old = try await list(accountID: accountID).first(where: { $0.id == id }), old.isActive(at: Date()) else { return nil }
        let (key, secret) = try await create(accountID: accountID, name: old.name, kind: old.kind, scopes: old.scopes, expiresAt: old.expiresAt)
        try await database.query(
            """
            UPDATE api_keys SET rolled_to = \(key.id),
                expires_at = least(coalesce(expires_at, 'infinity'), now() + make_interval(secs => \(Double(grace))))
            WHERE account_id = \(accountID) AND id = \(id)
            """,
            logger: logger
        )
        return (key, secret)
    }

    /// The client for a presented key, or nil when it is unknown, revoked or expired.
    public func authenticate(_ presented: String) async throws -> APIClient? {
        guard presented.count >= 20, presented.count <= 100, presented.hasPrefix("sk_") || presented.hasPrefix("pk_") else { return nil }
        let lookup = String(presented.prefix(12))
        let rows = try await database.query(
            """
            SELECT account_id, id, kind, secret_hash, scopes FROM api_keys
            WHERE lookup = \(lookup) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
            """,
            logger: logger
        )
        let digest = Self.hash(presented)
        var match: APIClient? = nil
        for try await (account, id, kind, hash, scopes) in rows.decode((AccountID, String, String, String, [String]).self) {
            // Every candidate is compared in full, in constant time.
            if ConstantTime.equal(hash, digest) {
                match = APIClient(accountID: account, keyID: id, kind: Kind(rawValue: kind) ?? .secret, scopes: Set(scopes))
            }
        }
        if let match {
            // Last use goes to Redis, not a database write per request.
            _ = try? await redis.set(
                prefix + "{\(match.accountID)}:key-used:\(match.keyID)", to: String(Int(Date().timeIntervalSince1970)),
                expiresInMilliseconds: 400 * 86_400_000)
        }
        return match
    }

    public func lastUsed(accountID: AccountID, keyID: String) async -> Date? {
        guard let text = try? await redis.get(prefix + "{\(accountID)}:key-used:\(keyID)"), let seconds = Double(text) else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }

    static func hash(_ secret: String) -> String {
        Hex.string(SHA256.hash(data: Array(secret.utf8)))
    }
}
