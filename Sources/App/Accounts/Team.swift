import Crypto
import Foundation
import Logging
import PaymentCore
import PostgresNIO

/// The people of an account, their roles, invitations to join it, and its audit log. The last
/// owner can neither leave nor be demoted: both run in a transaction that locks the account's
/// owners first, so two owners demoting each other at once cannot leave none.
struct Team: Sendable {
    let database: PostgresClient
    let logger: Logger

    static let inviteLifetime: TimeInterval = 7 * 86400

    struct Member: Sendable, Equatable {
        let id: String
        let name: String
        let email: String
        let role: Role
        let twoFactor: Bool
        let joined: Date
    }

    struct Invite: Sendable, Equatable {
        let id: String
        let accountID: AccountID
        let accountName: String
        let email: String
        let role: Role
        let expiresAt: Date
    }

    enum TeamError: Error, Equatable {
        case lastOwner
        case emailTaken
        case alreadyMember
        case inviteInvalid
        /// The invitation is for another email than the signed-in person's.
        case inviteForSomeoneElse
        case notMember
    }

    func members(accountID: AccountID) async throws -> [Member] {
        let rows = try await database.query(
            """
            SELECT u.id, u.name, u.email, m.role, u.totp_enabled_at IS NOT NULL, m.joined_at
            FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.account_id = \(accountID)
            ORDER BY CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 WHEN 'developer' THEN 2 ELSE 3 END, lower(u.name), u.id
            """,
            logger: logger
        )
        var members: [Member] = []
        for try await (id, name, email, role, twoFactor, joined) in rows.decode((String, String, String, String, Bool, Date).self) {
            members.append(Member(id: id, name: name, email: email, role: Role(rawValue: role) ?? .viewer, twoFactor: twoFactor, joined: joined))
        }
        return members
    }

    /// Invitations not yet accepted, revoked or expired.
    func openInvites(accountID: AccountID) async throws -> [Invite] {
        try await invites(
            """
            SELECT i.id, i.account_id, a.name, i.email, i.role, i.expires_at FROM invites i JOIN accounts a ON a.id = i.account_id
            WHERE i.account_id = \(accountID) AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now()
            ORDER BY i.created_at DESC
            """)
    }

    /// A new invitation and the token of its link (shown once; only its digest is kept). The
    /// email may already sign in to Kassa (for another business): they join by signing in.
    func invite(accountID: AccountID, email: String, role: Role, by userID: String) async throws -> (Invite, String) {
        if try await isMember(accountID: accountID, email: email) { throw TeamError.alreadyMember }
        // The same kind of secret as a session id: 256 random bits, base64url.
        let token = SessionStore.newID()
        let found = try await invites(
            """
            WITH made AS (
                INSERT INTO invites (account_id, id, token_hash, email, role, invited_by, expires_at)
                VALUES (\(accountID), \(Identifier.make("inv")), \(Self.digest(token)), \(email), \(role.rawValue), \(userID),
                        now() + make_interval(secs => \(Self.inviteLifetime)))
                RETURNING id, account_id, email, role, expires_at)
            SELECT made.id, made.account_id, a.name, made.email, made.role, made.expires_at FROM made JOIN accounts a ON a.id = made.account_id
            """)
        guard let invite = found.first else { throw TeamError.inviteInvalid }
        return (invite, token)
    }

    func revokeInvite(accountID: AccountID, id: String) async throws -> Bool {
        let rows = try await database.query(
            """
            UPDATE invites SET revoked_at = now() WHERE account_id = \(accountID) AND id = \(id) AND accepted_at IS NULL AND revoked_at IS NULL
            RETURNING id
            """,
            logger: logger
        )
        for try await _ in rows.decode(String.self) { return true }
        return false
    }

    /// The open invitation behind a link's token, if it is still good.
    func invite(token: String) async throws -> Invite? {
        try await invites(
            """
            SELECT i.id, i.account_id, a.name, i.email, i.role, i.expires_at FROM invites i JOIN accounts a ON a.id = i.account_id
            WHERE i.token_hash = \(Self.digest(token)) AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now()
            """
        ).first
    }

    /// A new person joins the account as the invitation says, once: the invitation is locked,
    /// checked and marked accepted in the transaction that creates the person.
    func accept(token: String, name: String, passwordHash: String) async throws -> String {
        let userID = Identifier.make("usr")
        try await accepting(token: token) { connection, account, email, role in
            try await connection.query(
                """
                INSERT INTO users (id, account_id, name, email, password_hash)
                VALUES (\(userID), \(account), \(name), \(email), \(passwordHash))
                """,
                logger: logger
            )
            try await connection.query(
                "INSERT INTO memberships (account_id, user_id, role) VALUES (\(account), \(userID), \(role))", logger: logger)
        }
        return userID
    }

    /// A person who already signs in to Kassa joins the account as the invitation says, once.
    /// The invitation must be for their email; the business they join opens at their next sign-in.
    func join(token: String, userID: String, email: String) async throws -> AccountID {
        try await accepting(token: token) { connection, account, invited, role in
            guard invited.lowercased() == email.lowercased() else { throw TeamError.inviteForSomeoneElse }
            let rows = try await connection.query(
                """
                INSERT INTO memberships (account_id, user_id, role) VALUES (\(account), \(userID), \(role))
                ON CONFLICT (account_id, user_id) DO NOTHING RETURNING user_id
                """,
                logger: logger
            )
            var made = false
            for try await _ in rows.decode(String.self) { made = true }
            guard made else { throw TeamError.alreadyMember }
            try await connection.query("UPDATE users SET account_id = \(account) WHERE id = \(userID)", logger: logger)
        }
    }

    /// Locks the open invitation behind `token`, lets `join` add the person (account, invited
    /// email, role) and marks the invitation accepted, all in one transaction.
    @discardableResult
    private func accepting(
        token: String, _ join: @Sendable (PostgresConnection, AccountID, String, String) async throws -> Void
    ) async throws -> AccountID {
        do {
            return try await database.transaction(logger: logger) { connection -> AccountID in
                let rows = try await connection.query(
                    """
                    SELECT account_id, id, email, role FROM invites
                    WHERE token_hash = \(Self.digest(token)) AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now() FOR UPDATE
                    """,
                    logger: logger
                )
                var found: (AccountID, String, String, String)? = nil
                for try await row in rows.decode((AccountID, String, String, String).self) { found = row }
                guard let (account, id, email, role) = found else { throw TeamError.inviteInvalid }
                try await join(connection, account, email, role)
                try await connection.query(
                    "UPDATE invites SET accepted_at = now() WHERE account_id = \(account) AND id = \(id)", logger: logger)
                return account
            }
        } catch  where error.isUniqueViolation("users_email_key") {
            throw TeamError.emailTaken
        }
    }

    /// Gives a member another role; refuses to leave the account without an owner.
    func setRole(accountID: AccountID, userID: String, to role: Role) async throws {
        try await changeMember(accountID: accountID, userID: userID) { connection in
            try await connection.query(
                "UPDATE memberships SET role = \(role.rawValue) WHERE account_id = \(accountID) AND user_id = \(userID)", logger: logger)
        }
    }

    /// Removes a member from the account (their sessions in it are ended by the caller); not the
    /// last owner. A person left in other businesses signs in to the first they joined next; a
    /// person left in none is deleted.
    func remove(accountID: AccountID, userID: String) async throws {
        try await changeMember(accountID: accountID, userID: userID) { connection in
            try await connection.query("DELETE FROM memberships WHERE account_id = \(accountID) AND user_id = \(userID)", logger: logger)
            try await connection.query(
                """
                WITH next AS (
                    SELECT account_id FROM memberships WHERE user_id = \(userID) ORDER BY joined_at, account_id LIMIT 1)
                UPDATE users SET account_id = next.account_id FROM next WHERE users.id = \(userID) AND users.account_id = \(accountID)
                """,
                logger: logger
            )
            try await connection.query(
                "DELETE FROM users WHERE id = \(userID) AND NOT EXISTS (SELECT 1 FROM memberships WHERE user_id = \(userID))", logger: logger)
        }
    }

    private func changeMember(accountID: AccountID, userID: String, _ change: (PostgresConnection) async throws -> Void) async throws {
        try await database.transaction(logger: logger) { connection in
            // The owners are locked first, in id order, by every change: one at a time decides.
            let rows = try await connection.query(
                "SELECT user_id, role FROM memberships WHERE account_id = \(accountID) ORDER BY user_id FOR UPDATE", logger: logger)
            var roles: [String: String] = [:]
            for try await (id, role) in rows.decode((String, String).self) { roles[id] = role }
            guard roles[userID] != nil else { throw TeamError.notMember }
            try await change(connection)
            let after = try await connection.query(
                "SELECT count(*) FROM memberships WHERE account_id = \(accountID) AND role = 'owner'", logger: logger)
            for try await owners in after.decode(Int64.self) where owners == 0 { throw TeamError.lastOwner }
        }
    }

    private func isMember(accountID: AccountID, email: String) async throws -> Bool {
        let rows = try await database.query(
            """
            SELECT 1 FROM users u JOIN memberships m ON m.user_id = u.id AND m.account_id = \(accountID) WHERE lower(u.email) = lower(\(email))
            """,
            logger: logger)
        for try await _ in rows.decode(Int.self) { return true }
        return false
    }

    private func invites(_ query: PostgresQuery) async throws -> [Invite] {
        let rows = try await database.query(query, logger: logger)
        var found: [Invite] = []
        for try await (id, account, accountName, email, role, expires) in rows.decode((String, AccountID, String, String, String, Date).self) {
            found.append(
                Invite(id: id, accountID: account, accountName: accountName, email: email, role: Role(rawValue: role) ?? .viewer, expiresAt: expires))
        }
        return found
    }

    static func digest(_ token: String) -> String { SessionStore.digest(token) }
}

/// What people did that matters, per account: sign-ins, API keys, refunds, roles, invitations
/// and two-factor changes. Read by owners at `/settings/audit`.
struct AuditLog: Sendable {
    let database: PostgresClient
    let logger: Logger

    struct Entry: Sendable, Equatable {
        let at: Date
        let actor: String
        let action: String
        let detail: String
        let client: String
    }

    /// Records what someone did; never fails the action it records (a failure is logged).
    func record(accountID: AccountID, userID: String?, actor: String, action: String, detail: String = "", client: String = "") async {
        do {
            try await database.query(
                """
                INSERT INTO audit_log (account_id, user_id, actor, action, detail, client)
                VALUES (\(accountID), \(userID), \(actor), \(action), \(detail), \(client))
                """,
                logger: logger
            )
        } catch {
            logger.error("audit log write failed", metadata: ["action": .string(action), "error": "\(String(reflecting: type(of: error)))"])
        }
    }

    func entries(accountID: AccountID, limit: Int = 200) async throws -> [Entry] {
        let rows = try await database.query(
            "SELECT at, actor, action, detail, client FROM audit_log WHERE account_id = \(accountID) ORDER BY seq DESC LIMIT \(limit)",
            logger: logger
        )
        var entries: [Entry] = []
        for try await (at, actor, action, detail, client) in rows.decode((Date, String, String, String, String).self) {
            entries.append(Entry(at: at, actor: actor, action: action, detail: detail, client: client))
        }
        return entries
    }

    /// Records what a person did before they have a session (signing in, joining).
    func record(_ user: AccountStore.User, _ action: String, detail: String = "", client: String) async {
        await record(accountID: user.accountID, userID: user.id, actor: user.email, action: action, detail: detail, client: client)
    }

    /// Records what the signed-in person did.
    func record(_ session: Session, _ action: String, detail: String = "", client: String) async {
        await record(accountID: session.accountID, userID: session.userID, actor: session.email, action: action, detail: detail, client: client)
    }
}
