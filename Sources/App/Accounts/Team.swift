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
        case inviteInvalid
        case notMember
    }

    func members(accountID: AccountID) async throws -> [Member] {
        let rows = try await database.query(
            """
            SELECT id, name, email, role, totp_enabled_at IS NOT NULL, created_at FROM users WHERE account_id = \(accountID)
            ORDER BY CASE role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 WHEN 'developer' THEN 2 ELSE 3 END, lower(name), id
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

    /// A new invitation and the token of its link (shown once; only its digest is kept).
    func invite(accountID: AccountID, email: String, role: Role, by userID: String) async throws -> (Invite, String) {
        if try await userExists(email: email) { throw TeamError.emailTaken }
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

    /// Joins the account as the invitation says, once: the invitation is locked, checked and
    /// marked accepted in the transaction that creates the person.
    func accept(token: String, name: String, passwordHash: String) async throws -> String {
        let userID = Identifier.make("usr")
        do {
            return try await database.transaction(logger: logger) { connection -> String in
                let rows = try await connection.query(
                    """
                    SELECT account_id, id, email, role FROM invites
                    WHERE token_hash = \(Self.digest(token)) AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now() FOR UPDATE
                    """,
                    logger: logger
                )
                var found: (String, String, String, String)? = nil
                for try await row in rows.decode((String, String, String, String).self) { found = row }
                guard let (account, id, email, role) = found else { throw TeamError.inviteInvalid }
                try await connection.query(
                    """
                    INSERT INTO users (id, account_id, name, email, password_hash, role)
                    VALUES (\(userID), \(account), \(name), \(email), \(passwordHash), \(role))
                    """,
                    logger: logger
                )
                try await connection.query(
                    "UPDATE invites SET accepted_at = now() WHERE account_id = \(account) AND id = \(id)", logger: logger)
                return userID
            }
        } catch let error as PostgresTransactionError {
            if let inner = error.closureError as? PSQLError, inner.serverInfo?[.sqlState] == "23505" { throw TeamError.emailTaken }
            if let inner = error.closureError as? TeamError { throw inner }
            throw error
        }
    }

    /// Gives a member another role; refuses to leave the account without an owner.
    func setRole(accountID: AccountID, userID: String, to role: Role) async throws {
        try await changeMember(accountID: accountID, userID: userID) { connection in
            try await connection.query("UPDATE users SET role = \(role.rawValue) WHERE account_id = \(accountID) AND id = \(userID)", logger: logger)
        }
    }

    /// Removes a member (their sessions are ended by the caller); not the last owner.
    func remove(accountID: AccountID, userID: String) async throws {
        try await changeMember(accountID: accountID, userID: userID) { connection in
            try await connection.query("DELETE FROM users WHERE account_id = \(accountID) AND id = \(userID)", logger: logger)
        }
    }

    private func changeMember(accountID: AccountID, userID: String, _ change: (PostgresConnection) async throws -> Void) async throws {
        do {
            try await database.transaction(logger: logger) { connection in
                // The owners are locked first, in id order, by every change: one at a time decides.
                let rows = try await connection.query(
                    "SELECT id, role FROM users WHERE account_id = \(accountID) ORDER BY id FOR UPDATE", logger: logger)
                var roles: [String: String] = [:]
                for try await (id, role) in rows.decode((String, String).self) { roles[id] = role }
                guard roles[userID] != nil else { throw TeamError.notMember }
                try await change(connection)
                let after = try await connection.query(
                    "SELECT count(*) FROM users WHERE account_id = \(accountID) AND role = 'owner'", logger: logger)
                for try await owners in after.decode(Int64.self) where owners == 0 { throw TeamError.lastOwner }
            }
        } catch let error as PostgresTransactionError {
            if let inner = error.closureError as? TeamError { throw inner }
            throw error
        }
    }

    private func userExists(email: String) async throws -> Bool {
        let rows = try await database.query("SELECT 1 FROM users WHERE lower(email) = lower(\(email))", logger: logger)
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
