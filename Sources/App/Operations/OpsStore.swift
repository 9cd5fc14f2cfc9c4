import Foundation
import Logging
import PaymentCore
import PostgresNIO

/// The operator console's reads and writes in PostgreSQL: merchants with their recent totals
/// (from `payment_totals`, kept by the totals consumer, so the list never scans payments), one
/// merchant's detail, and the operator's actions, each written with its audit row.
struct OpsStore: Sendable {
    let database: PostgresClient
    let logger: Logger

    /// Statuses of payments whose money was taken (the volume).
    static let paidStatuses: Set<String> = ["succeeded", "partially_refunded", "refunded"]

    struct Merchant: Sendable {
        let id: AccountID
        let name: String
        let createdAt: Date
        let suspended: Bool
        let apiPerMinute: Int?
        /// Payments paid and declined in the last 7 UTC days, volume by currency, and paid payments
        /// per day for the last 14 (oldest first).
        var paid = 0
        var declined = 0
        var volume: [String: Int64] = [:]
        var daily = [Int](repeating: 0, count: 14)
    }

    /// Merchants whose name, id or a person's email matches `query` (all when empty), with their
    /// totals; at most `limit`.
    func merchants(matching query: String, today: Date, limit: Int = 500) async throws -> [Merchant] {
        // The history's search's escaping: \, % and _ match themselves.
        let pattern = PaymentHistory.containsPattern(query)
        let rows = try await database.query(
            """
            SELECT a.id, a.name, a.created_at, a.suspended_at IS NOT NULL, a.api_requests_per_minute FROM accounts a
            WHERE NOT a.platform AND (\(query) = '' OR a.name ILIKE \(pattern) OR a.id = \(query)
                  OR EXISTS (SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.account_id = a.id AND lower(u.email) = lower(\(query))))
            ORDER BY a.created_at DESC LIMIT \(limit)
            """,
            logger: logger
        )
        var merchants: [Merchant] = []
        for try await (id, name, created, suspended, perMinute) in rows.decode((AccountID, String, Date, Bool, Int?).self) {
            merchants.append(Merchant(id: id, name: name, createdAt: created, suspended: suspended, apiPerMinute: perMinute))
        }
        guard !merchants.isEmpty else { return [] }
        let first = UTCDay.iso(today.addingTimeInterval(-13 * 86400))
        let totals = try await database.query(
            """
            SELECT account_id, (day - \(first)::date)::int, currency, status, sum(count)::bigint, sum(amount)::bigint FROM payment_totals
            WHERE account_id = ANY(\(merchants.map(\.id.rawValue))) AND day >= \(first)::date
            GROUP BY 1, 2, 3, 4
            """,
            logger: logger
        )
        var index: [String: Int] = [:]
        for (position, merchant) in merchants.enumerated() { index[merchant.id.rawValue] = position }
        for try await (account, day, currency, status, count, amount) in totals.decode((String, Int, String, String, Int64, Int64).self) {
            guard let position = index[account], (0..<14).contains(day) else { continue }
            let paid = Self.paidStatuses.contains(status)
            if paid { merchants[position].daily[day] += Int(count) }
            guard day >= 7 else { continue }
            if paid {
                merchants[position].paid += Int(count)
                merchants[position].volume[currency, default: 0] += amount
            } else if status == "failed" {
                merchants[position].declined += Int(count)
            }
        }
        return merchants
    }

    struct Detail: Sendable {
        let id: AccountID
        let name: String
        let createdAt: Date
        let suspendedAt: Date?
        let suspendedReason: String?
        let apiPerMinute: Int?
        /// The last 30 UTC days by status: count, and amount by currency.
        var byStatus: [String: (count: Int, amounts: [String: Int64])] = [:]
        var declines: [(reason: String, count: Int)] = []
        var people: [(name: String, email: String, role: String, twoFactor: Bool)] = []
        var actions: [(at: Date, operatorEmail: String, action: String, detail: String, reason: String)] = []
    }

    /// Whether `id` is a merchant (an account that is not an operator's).
    func isMerchant(_ id: AccountID) async throws -> Bool {
        let rows = try await database.query("SELECT 1 FROM accounts WHERE id = \(id) AND NOT platform", logger: logger)
        for try await _ in rows.decode(Int.self) { return true }
        return false
    }

    func detail(_ id: AccountID, today: Date) async throws -> Detail? {
        let rows = try await database.query(
            """
            SELECT id, name, created_at, suspended_at, suspended_reason, api_requests_per_minute FROM accounts
            WHERE id = \(id) AND NOT platform
            """,
            logger: logger)
        var found: Detail? = nil
        for try await (id, name, created, suspendedAt, reason, perMinute) in rows.decode((AccountID, String, Date, Date?, String?, Int?).self) {
            found = Detail(id: id, name: name, createdAt: created, suspendedAt: suspendedAt, suspendedReason: reason, apiPerMinute: perMinute)
        }
        guard var detail = found else { return nil }
        let first = UTCDay.iso(today.addingTimeInterval(-29 * 86400))
        let totals = try await database.query(
            """
            SELECT status, currency, sum(count)::bigint, sum(amount)::bigint FROM payment_totals
            WHERE account_id = \(id) AND day >= \(first)::date GROUP BY 1, 2
            """,
            logger: logger)
        for try await (status, currency, count, amount) in totals.decode((String, String, Int64, Int64).self) {
            var entry = detail.byStatus[status] ?? (0, [:])
            entry.count += Int(count)
            entry.amounts[currency, default: 0] += amount
            detail.byStatus[status] = entry
        }
        let declines = try await database.query(
            """
            SELECT failure_code, count(*)::bigint FROM payments
            WHERE account_id = \(id) AND created_at >= \(first)::date AND status = 'failed'
            GROUP BY 1 ORDER BY 2 DESC, 1
            """,
            logger: logger)
        for try await (code, count) in declines.decode((String?, Int64).self) { detail.declines.append((code ?? "unknown", Int(count))) }
        let people = try await database.query(
            """
            SELECT u.name, u.email, m.role, u.totp_enabled_at IS NOT NULL FROM memberships m JOIN users u ON u.id = m.user_id
            WHERE m.account_id = \(id) ORDER BY m.joined_at, u.email
            """,
            logger: logger)
        for try await person in people.decode((String, String, String, Bool).self) { detail.people.append(person) }
        let actions = try await database.query(
            """
            SELECT at, operator_email, action, detail, reason FROM operator_actions WHERE account_id = \(id) ORDER BY seq DESC LIMIT 50
            """,
            logger: logger)
        for try await action in actions.decode((Date, String, String, String, String).self) { detail.actions.append(action) }
        return detail
    }

    struct Operator: Sendable {
        let id: String
        let email: String
    }

    /// Suspends (a reason) or resumes (nil) a merchant; false when there is no such merchant or it
    /// is already in that state. The action and the merchant's own audit row go in one transaction.
    func setSuspended(_ id: AccountID, reason suspension: String?, by who: Operator, why: String, client: String) async throws -> Bool {
        let suspend = suspension != nil
        return try await database.transaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                UPDATE accounts SET suspended_at = CASE WHEN \(suspend) THEN now() END, suspended_reason = \(suspension)::text
                WHERE id = \(id) AND NOT platform AND (suspended_at IS NULL) = \(suspend)
                RETURNING id
                """,
                logger: logger)
            var changed = false
            for try await _ in rows.decode(String.self) { changed = true }
            guard changed else { return false }
            let action = suspension == nil ? "resume" : "suspend"
            try await record(connection, id, action: action, detail: "", by: who, why: why, client: client)
            return true
        }
    }

    /// Sets the merchant's API budget (nil: the server's default) with the action's audit rows.
    func setAPILimit(_ id: AccountID, perMinute: Int?, detail: String, by who: Operator, why: String, client: String) async throws {
        try await database.transaction(logger: logger) { connection in
            try await connection.query(
                "UPDATE accounts SET api_requests_per_minute = \(perMinute) WHERE id = \(id) AND NOT platform", logger: logger)
            try await record(connection, id, action: "limits", detail: detail, by: who, why: why, client: client)
        }
    }

    private func record(
        _ connection: PostgresConnection, _ id: AccountID, action: String, detail: String, by who: Operator, why: String, client: String
    ) async throws {
        try await connection.query(
            """
            INSERT INTO operator_actions (operator_id, operator_email, account_id, action, detail, reason)
            VALUES (\(who.id), \(who.email), \(id), \(action), \(detail), \(why))
            """,
            logger: logger)
        let words = ["suspend": "account.suspended", "resume": "account.resumed", "limits": "account.limits_changed"][action] ?? "account.changed"
        try await connection.query(
            """
            INSERT INTO audit_log (account_id, user_id, actor, action, detail, client)
            VALUES (\(id), NULL, \("Kassa operator " + who.email), \(words), \(detail.isEmpty ? why : detail + " — " + why), \(client))
            """,
            logger: logger)
    }
}

/// `kassa operator create`: a platform operator with a password shown once; two-factor sign-in is
/// required before the console opens.
public enum Operators {
    public enum CreateError: Error, CustomStringConvertible {
        case badEmail(String)
        case emailTaken

        public var description: String {
            switch self {
            case .badEmail(let problem): problem
            case .emailTaken: "someone already signs in with this email"
            }
        }
    }

    /// Creates the operator; returns the password to give them.
    public static func create(database: PostgresClient, email: String, name: String?, logger: Logger) async throws -> String {
        if let problem = AccountService.emailProblem(email) { throw CreateError.badEmail(problem) }
        let password = ReadableCode.password()
        let hash = try await PasswordHasher().hash(password)
        do {
            _ = try await AccountStore(database: database, logger: logger).createOperator(
                name: name ?? String(email.prefix { $0 != "@" }), email: email, passwordHash: hash)
        } catch AccountStore.StoreError.emailTaken {
            throw CreateError.emailTaken
        }
        return password
    }
}
