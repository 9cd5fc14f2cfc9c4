import Crypto
import Foundation
import Logging
import PaymentCore
import PostgresNIO

/// Password recovery links: a random token in the link, only its SHA-256 in the database
/// (`password_resets`), valid once and for `lifetime`. Issued by the "Forgot password?" page (sent
/// by email) or by an operator (`kassa reset-password`, printed).
public struct PasswordResets: Sendable {
    let database: PostgresClient
    let logger: Logger

    /// How long a link works.
    public static let lifetime: TimeInterval = 30 * 60

    public init(database: PostgresClient, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// A new link's token for the person with this email (any letter case), or nil when nobody
    /// uses it. Earlier links stay valid until they expire or one of them is used.
    public func issue(email: String) async throws -> (token: String, user: AccountStore.User)? {
        guard let user = try await AccountStore(database: database, logger: logger).user(email: email) else { return nil }
        // The same kind of secret as a session id: 256 random bits, base64url.
        let token = SessionStore.newID()
        try await database.query(
            """
            INSERT INTO password_resets (token_hash, user_id, expires_at)
            VALUES (\(Self.digest(token)), \(user.id), now() + make_interval(secs => \(Self.lifetime)))
            """,
            logger: logger
        )
        return (token, user)
    }

    /// The email of the person whose link this is, while it works (unused, unexpired): what the
    /// form page asks before showing.
    public func holder(token: String) async throws -> String? {
        guard Self.isWellFormed(token) else { return nil }
        let rows = try await database.query(
            """
            SELECT u.email FROM password_resets r JOIN users u ON u.id = r.user_id
            WHERE r.token_hash = \(Self.digest(token)) AND r.used_at IS NULL AND r.expires_at > now()
            """,
            logger: logger
        )
        for try await email in rows.decode(String.self) { return email }
        return nil
    }

    /// The page a link opens. The token travels in the query, which Kassa never logs.
    public static func link(baseURL: String, token: String) -> String {
        baseURL + "/password/reset?token=" + token
    }

    /// Uses the link: in one transaction the link is marked used (only if it was unused and
    /// unexpired, so two submits cannot both succeed), the password changes, and every other open
    /// link of the person ends. Returns the person, or nil when the link no longer works.
    public func redeem(token: String, passwordHash: String) async throws -> String? {
        guard Self.isWellFormed(token) else { return nil }
        let digest = Self.digest(token)
        return try await database.withTransaction(logger: logger) { connection -> String? in
            let used = try await connection.query(
                """
                UPDATE password_resets SET used_at = now()
                WHERE token_hash = \(digest) AND used_at IS NULL AND expires_at > now()
                RETURNING user_id
                """,
                logger: logger
            )
            var userID: String?
            for try await id in used.decode(String.self) { userID = id }
            guard let userID else { return nil }
            try await connection.query(
                "UPDATE users SET password_hash = \(passwordHash), password_changed_at = now() WHERE id = \(userID)",
                logger: logger
            )
            try await connection.query(
                "UPDATE password_resets SET used_at = now() WHERE user_id = \(userID) AND used_at IS NULL",
                logger: logger
            )
            return userID
        }
    }

    /// 32 random bytes in base64url: 43 characters.
    static func isWellFormed(_ token: String) -> Bool {
        token.utf8.count == 43
            && token.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            }
    }

    static func digest(_ token: String) -> String { SessionStore.digest(token) }
}
