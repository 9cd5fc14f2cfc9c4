import Foundation
import Logging
import PaymentCore
import PostgresNIO

/// The SQL behind merchant accounts and their users.
public struct AccountStore: Sendable {
    let database: PostgresClient
    let logger: Logger

    public struct User: Sendable, Equatable {
        public var id: String
        public var accountID: AccountID
        public var name: String
        public var email: String
        public var accountName: String
        public var passwordHash: String
        /// The account's time zone (IANA name) for its pages.
        public var timeZone: String = "UTC"
        public var role: Role = .owner
        /// Signs in with a second factor (TOTP), read with the rest of the row.
        public var twoFactor: Bool = false
        /// The seed API's display name, unique on this Kassa (absent for people who signed up otherwise).
        public var username: String? = nil
        /// The sign-up date the seed API's client declared, `YYYY-MM-DD`.
        public var declaredDate: String? = nil
        /// Runs the platform (`/ops`) instead of a business.
        public var isOperator: Bool = false
    }

    public enum StoreError: Error, Equatable {
        case emailTaken
        case usernameTaken
    }

    /// Creates an account and its first user in one transaction.
    public func createAccount(
        name: String, business: String, email: String, passwordHash: String, username: String? = nil, declaredDate: String? = nil
    ) async throws -> User {
        let accountID = AccountID.make()
        let userID = Identifier.make("usr")
        do {
            try await database.transaction(logger: logger) { connection in
                try await connection.query(
                    "INSERT INTO accounts (id, name) VALUES (\(accountID), \(business))",
                    logger: logger
                )
                try await connection.query(
                    """
                    INSERT INTO users (id, account_id, name, email, password_hash, username, declared_signup_date)
                    VALUES (\(userID), \(accountID), \(name), \(email), \(passwordHash), \(username), \(declaredDate)::date)
                    """,
                    logger: logger
                )
                try await connection.query(
                    "INSERT INTO memberships (account_id, user_id, role) VALUES (\(accountID), \(userID), 'owner')", logger: logger)
            }
        } catch  where error.isUniqueViolation("users_email_key") {
            throw StoreError.emailTaken
        } catch  where error.isUniqueViolation("users_username_key") {
            throw StoreError.usernameTaken
        }
        return User(
            id: userID, accountID: accountID, name: name, email: email, accountName: business, passwordHash: passwordHash, username: username,
            declaredDate: declaredDate)
    }

    /// A platform operator: a person whose home is an account of their own marked `platform`
    /// (never listed as a merchant), in one transaction.
    public func createOperator(name: String, email: String, passwordHash: String) async throws -> User {
        var user = try await createAccount(name: name, business: "Kassa platform", email: email, passwordHash: passwordHash)
        try await database.transaction(logger: logger) { connection in
            try await connection.query("UPDATE accounts SET platform = true WHERE id = \(user.accountID)", logger: logger)
            try await connection.query("UPDATE users SET operator = true WHERE id = \(user.id)", logger: logger)
        }
        user.isOperator = true
        return user
    }

    /// The person with this email in any letter case, in the business a sign-in opens.
    public func user(email: String) async throws -> User? {
        try await self.user(
            "SELECT \(unescaped: Self.userColumns) FROM users u \(unescaped: Self.homeMembership) WHERE lower(u.email) = lower(\(email))")
    }

    /// The person with this id in `accountID`, or in the business a sign-in opens when nil; nil
    /// when they do not belong to that account (any more).
    public func user(id: String, in accountID: AccountID? = nil) async throws -> User? {
        guard let accountID else {
            return try await self.user("SELECT \(unescaped: Self.userColumns) FROM users u \(unescaped: Self.homeMembership) WHERE u.id = \(id)")
        }
        return try await self.user(
            """
            SELECT \(unescaped: Self.userColumns) FROM users u JOIN memberships m ON m.user_id = u.id AND m.account_id = \(accountID)
            JOIN accounts a ON a.id = m.account_id WHERE u.id = \(id)
            """)
    }

    private static let userColumns =
        "u.id, m.account_id, u.name, u.email, a.name, u.password_hash, a.time_zone, m.role, u.totp_enabled_at IS NOT NULL, u.username, to_char(u.declared_signup_date, 'YYYY-MM-DD'), u.operator"

    /// The business a sign-in opens: the home account (always one of the person's memberships).
    private static let homeMembership =
        "JOIN memberships m ON m.user_id = u.id AND m.account_id = u.account_id JOIN accounts a ON a.id = m.account_id"

    private func user(_ query: PostgresQuery) async throws -> User? {
        let rows = try await database.query(query, logger: logger)
        for try await (id, accountID, name, email, accountName, hash, zone, role, twoFactor, username, declared, isOperator) in rows.decode(
            (String, AccountID, String, String, String, String, String, String, Bool, String?, String?, Bool).self)
        {
            return User(
                id: id, accountID: accountID, name: name, email: email, accountName: accountName, passwordHash: hash, timeZone: zone,
                role: Role(rawValue: role) ?? .viewer, twoFactor: twoFactor, username: username, declaredDate: declared, isOperator: isOperator)
        }
        return nil
    }

    /// The businesses a person belongs to, in the order they joined them.
    public func memberships(userID: String) async throws -> [(accountID: AccountID, accountName: String, role: Role)] {
        let rows = try await database.query(
            """
            SELECT m.account_id, a.name, m.role FROM memberships m JOIN accounts a ON a.id = m.account_id
            WHERE m.user_id = \(userID) ORDER BY m.joined_at, m.account_id
            """,
            logger: logger
        )
        var found: [(accountID: AccountID, accountName: String, role: Role)] = []
        for try await (account, name, role) in rows.decode((AccountID, String, String).self) {
            found.append((account, name, Role(rawValue: role) ?? .viewer))
        }
        return found
    }

    /// The business the person's next sign-in opens.
    public func setHome(userID: String, accountID: AccountID) async throws {
        try await database.query(
            """
            UPDATE users SET account_id = \(accountID)
            WHERE id = \(userID) AND EXISTS (SELECT 1 FROM memberships WHERE account_id = \(accountID) AND user_id = \(userID))
            """,
            logger: logger
        )
    }

    /// The time zone the account's pages show times in (an IANA name Foundation knows).
    /// Tells the account (in its notifications, and by email to the user whatever they chose)
    /// that its sign-ins were paused after `attempts` wrong passwords. One per user and window.
    func noteSignInsPaused(_ user: User, attempts: Int, windowSeconds: Int) async throws {
        let minutes = max(1, windowSeconds / 60)
        let window = Int(Date().timeIntervalSince1970) / max(1, windowSeconds)
        try await database.query(
            """
            INSERT INTO notifications (account_id, id, event_id, type, title, body, link)
            VALUES (\(user.accountID), \(Identifier.make("ntf")), \("sign-in-paused:\(user.id):\(window)"), \(Self.signInPausedType),
                    'Sign-ins were paused after wrong passwords',
                    \("\(attempts) wrong passwords were tried for \(user.email) within \(minutes) minutes. Sign-ins from the places that tried are paused; you can still sign in from a device that has not failed. If this was not you, choose a new password in Settings."),
                    '/settings')
            ON CONFLICT (account_id, event_id) DO NOTHING
            """,
            logger: logger
        )
    }

    /// Notifications of this kind are emailed to the account's people whatever they chose.
    static let signInPausedType = "account.sign_in_paused"

    public func setTimeZone(_ accountID: AccountID, to zone: String) async throws {
        try await database.query("UPDATE accounts SET time_zone = \(zone) WHERE id = \(accountID)", logger: logger)
    }

    /// The business name payers see (checkout, receipts, emails).
    public func renameAccount(_ accountID: AccountID, to name: String) async throws {
        try await database.query("UPDATE accounts SET name = \(name) WHERE id = \(accountID)", logger: logger)
    }

    public func updatePassword(userID: String, passwordHash: String) async throws {
        try await database.query(
            "UPDATE users SET password_hash = \(passwordHash), password_changed_at = now() WHERE id = \(userID)",
            logger: logger
        )
    }

    /// The events this person wants by email from this business.
    public func emailEvents(userID: String, accountID: AccountID) async throws -> [String] {
        let rows = try await database.query(
            "SELECT email_events FROM memberships WHERE account_id = \(accountID) AND user_id = \(userID)", logger: logger)
        for try await events in rows.decode([String].self) { return events }
        return []
    }

    public func setEmailEvents(userID: String, accountID: AccountID, events: [String]) async throws {
        try await database.query(
            "UPDATE memberships SET email_events = \(events) WHERE account_id = \(accountID) AND user_id = \(userID)", logger: logger)
    }
}
