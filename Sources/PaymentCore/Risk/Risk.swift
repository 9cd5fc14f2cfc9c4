import Foundation
import Logging
import PostgresNIO
import Synchronization

/// A merchant's risk rules: each `nil` (or empty) rule is off, as it is for a new merchant.
public struct RiskRules: Sendable, Equatable {
    /// The largest amount one payment may have, in minor units of its currency.
    public var maxAmount: Int64?
    public var velocityCardPerHour: Int?
    public var velocityEmailPerHour: Int?
    public var velocityIPPerHour: Int?
    /// ISO 3166 alpha-2 countries whose cards are refused (the issuer's country).
    public var blockedCountries: [String]
    /// Emails (`ana@example.com`) or whole domains (`example.com`), lowercased.
    public var blockedEmails: [String]
    /// Fingerprints of cards marked as fraud.
    public var blockedCards: [String]
    /// A score at or above this blocks the payment.
    public var scoreThreshold: Int?

    public init(
        maxAmount: Int64? = nil, velocityCardPerHour: Int? = nil, velocityEmailPerHour: Int? = nil, velocityIPPerHour: Int? = nil,
        blockedCountries: [String] = [], blockedEmails: [String] = [], blockedCards: [String] = [], scoreThreshold: Int? = nil
    ) {
        self.maxAmount = maxAmount
        self.velocityCardPerHour = velocityCardPerHour
        self.velocityEmailPerHour = velocityEmailPerHour
        self.velocityIPPerHour = velocityIPPerHour
        self.blockedCountries = blockedCountries
        self.blockedEmails = blockedEmails
        self.blockedCards = blockedCards
        self.scoreThreshold = scoreThreshold
    }

    public static let off = RiskRules()

    /// Values a merchant might start from, shown next to the fields.
    public static let suggested = RiskRules(
        maxAmount: 500_000, velocityCardPerHour: 5, velocityEmailPerHour: 10, velocityIPPerHour: 20, scoreThreshold: 75)

    /// Every rule these settings break, by field (as the page and the API name them).
    public static func problems(_ rules: RiskRules) -> [FieldProblem] {
        var problems: [FieldProblem] = []
        if let amount = rules.maxAmount, !(1...999_999_999_999).contains(amount) {
            problems.append(FieldProblem(field: "max_amount", message: "Enter an amount above zero, or leave it empty for no limit."))
        }
        for (field, value) in [
            ("velocity_card_per_hour", rules.velocityCardPerHour), ("velocity_email_per_hour", rules.velocityEmailPerHour),
            ("velocity_ip_per_hour", rules.velocityIPPerHour),
        ] {
            if let value, !(1...10_000).contains(value) {
                problems.append(FieldProblem(field: field, message: "Enter a whole number from 1 to 10,000, or leave it empty."))
            }
        }
        if rules.blockedCountries.count > 250
            || rules.blockedCountries.contains(where: { $0.utf8.count != 2 || !$0.utf8.allSatisfy { $0 >= 0x41 && $0 <= 0x5A } })
        {
            problems.append(FieldProblem(field: "blocked_countries", message: "List two-letter country codes such as RU or NG."))
        }
        if rules.blockedEmails.count > 1000 || rules.blockedEmails.contains(where: { !Self.isEmailOrDomain($0) }) {
            problems.append(FieldProblem(field: "blocked_emails", message: "List email addresses or domains such as example.com."))
        }
        if let threshold = rules.scoreThreshold, !(1...100).contains(threshold) {
            problems.append(FieldProblem(field: "score_threshold", message: "Enter a score from 1 to 100, or leave it empty."))
        }
        return problems
    }

    /// An address or a domain in ASCII (an international domain in its xn-- form), 3 to 100
    /// characters: the spec's pattern exactly.
    static func isEmailOrDomain(_ text: String) -> Bool {
        (3...100).contains(text.utf8.count) && text.wholeMatch(of: /([A-Za-z0-9._%+'-]+@)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+/) != nil
    }

    /// A two-letter country code as typed (either case), before it is uppercased.
    public static func isCountryCode(_ text: String) -> Bool {
        text.utf8.count == 2 && text.utf8.allSatisfy { ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) }
    }
}

/// What Kassa knows of a payer's recent attempts at this merchant, counted in Redis by the
/// presenter (this attempt included): per card fingerprint, payer email and client address in the
/// last hour, and the card's declines.
public struct RiskSignals: Sendable, Equatable {
    public var cardAttempts: Int
    public var emailAttempts: Int
    public var ipAttempts: Int
    public var cardDeclines: Int

    public init(cardAttempts: Int = 1, emailAttempts: Int = 1, ipAttempts: Int = 1, cardDeclines: Int = 0) {
        self.cardAttempts = cardAttempts
        self.emailAttempts = emailAttempts
        self.ipAttempts = ipAttempts
        self.cardDeclines = cardDeclines
    }
}

/// A checkout's score (0–100), the rules that fired, and whether it is refused.
public struct RiskAssessment: Sendable, Equatable {
    public let score: Int
    public let rules: [String]
    public let blocked: Bool
}

public enum Risk {
    /// Refused whatever the rules, as Stripe's 4100 0000 0000 0019.
    public static let alwaysBlockedCard = "4100000000000019"

    /// Amounts from this many minor units up are "large" for a card never seen this hour.
    static let largeAmount: Int64 = 50_000

    /// Scores a checkout against the merchant's rules. Hard rules (the blocked test card, the
    /// maximum amount, velocities, blocked countries, emails and cards) refuse on their own; the
    /// score adds weights for a card from another country than the currency's, a new card paying a
    /// large amount, repeated declines on the card and busy cards, emails and addresses, and refuses
    /// at the merchant's threshold.
    public static func assess(
        rules: RiskRules, cardNumber: String, fingerprint: String, email: String?, amount: Money, cardCountry: String, signals: RiskSignals?
    ) -> RiskAssessment {
        var fired: [String] = []
        var hard = false
        var score = 0
        func hit(_ rule: String) {
            fired.append(rule)
            hard = true
        }
        if cardNumber == alwaysBlockedCard { hit("test_card_blocked") }
        if let max = rules.maxAmount, amount.minorUnits > max { hit("max_amount") }
        if rules.blockedCountries.contains(cardCountry) { hit("blocked_country") }
        if let email = email?.lowercased(), !email.isEmpty {
            let domain = email.split(separator: "@").last.map(String.init) ?? ""
            if rules.blockedEmails.contains(email) || rules.blockedEmails.contains(domain) { hit("blocked_email") }
        }
        if rules.blockedCards.contains(fingerprint) { hit("blocked_card") }
        let signals = signals ?? RiskSignals()
        if let limit = rules.velocityCardPerHour, signals.cardAttempts > limit { hit("velocity_card") }
        if let limit = rules.velocityEmailPerHour, email?.isEmpty == false, signals.emailAttempts > limit { hit("velocity_email") }
        if let limit = rules.velocityIPPerHour, signals.ipAttempts > limit { hit("velocity_ip") }

        if let countries = currencyCountries[amount.currency.code], !countries.contains(cardCountry) { score += 20 }
        if signals.cardAttempts <= 1 && amount.minorUnits >= largeAmount { score += 25 }
        score += min(max(signals.cardDeclines - 1, 0) * 15, 45)
        if signals.cardAttempts > 3 { score += 10 }
        if signals.emailAttempts > 5 { score += 10 }
        if signals.ipAttempts > 10 { score += 10 }
        if hard { score = max(score, 90) }
        score = min(score, 100)
        if let threshold = rules.scoreThreshold, score >= threshold, !hard {
            fired.append("score_threshold")
            hard = true
        }
        return RiskAssessment(score: score, rules: fired, blocked: hard)
    }

    /// Where a currency's cards usually come from (the score's country mismatch); others score nothing.
    static let currencyCountries: [String: Set<String>] = [
        "USD": ["US"], "GBP": ["GB"], "CAD": ["CA"], "AUD": ["AU"], "NZD": ["NZ"], "CHF": ["CH", "LI"], "JPY": ["JP"], "NOK": ["NO"],
        "SEK": ["SE"], "DKK": ["DK"], "CNY": ["CN"], "HKD": ["HK"], "SGD": ["SG"], "PLN": ["PL"], "CZK": ["CZ"], "BHD": ["BH"],
        "KWD": ["KW"],
        "EUR": ["AT", "BE", "CY", "DE", "EE", "ES", "FI", "FR", "GR", "HR", "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PT", "SI", "SK"],
    ]
}

/// Each merchant's rules in PostgreSQL, with a copy per process a few seconds old for the checkout.
public struct RiskStore: Sendable {
    let database: PostgresClient
    let logger: Logger
    let cache: ExpiringRules

    public func rules(accountID: AccountID) async throws -> RiskRules {
        let rows = try await database.query(
            """
            SELECT max_amount, velocity_card_per_hour, velocity_email_per_hour, velocity_ip_per_hour, blocked_countries, blocked_emails,
                   blocked_cards, score_threshold
            FROM risk_rules WHERE account_id = \(accountID)
            """,
            logger: logger
        )
        for try await (max, card, email, ip, countries, emails, cards, threshold) in rows.decode(
            (Int64?, Int?, Int?, Int?, [String], [String], [String], Int?).self)
        {
            return RiskRules(
                maxAmount: max, velocityCardPerHour: card, velocityEmailPerHour: email, velocityIPPerHour: ip, blockedCountries: countries,
                blockedEmails: emails, blockedCards: cards, scoreThreshold: threshold)
        }
        return .off
    }

    /// The rules for a checkout: at most the cache's age old.
    public func cachedRules(accountID: AccountID) async throws -> RiskRules {
        if let kept = cache.get(accountID) { return kept }
        let fresh = try await rules(accountID: accountID)
        cache.put(accountID, fresh)
        return fresh
    }

    /// Replaces the account's rules whole (the cards marked as fraud stay), or throws
    /// `FieldProblems` naming every rule broken (nothing written).
    public func replace(accountID: AccountID, with rules: RiskRules) async throws {
        let problems = RiskRules.problems(rules)
        guard problems.isEmpty else { throw FieldProblems(problems) }
        try await database.query(
            """
            INSERT INTO risk_rules (account_id, max_amount, velocity_card_per_hour, velocity_email_per_hour, velocity_ip_per_hour,
                                    blocked_countries, blocked_emails, score_threshold)
            VALUES (\(accountID), \(rules.maxAmount), \(rules.velocityCardPerHour), \(rules.velocityEmailPerHour), \(rules.velocityIPPerHour),
                    \(rules.blockedCountries), \(rules.blockedEmails), \(rules.scoreThreshold))
            ON CONFLICT (account_id) DO UPDATE SET max_amount = excluded.max_amount,
                velocity_card_per_hour = excluded.velocity_card_per_hour, velocity_email_per_hour = excluded.velocity_email_per_hour,
                velocity_ip_per_hour = excluded.velocity_ip_per_hour, blocked_countries = excluded.blocked_countries,
                blocked_emails = excluded.blocked_emails, score_threshold = excluded.score_threshold, updated_at = now()
            """,
            logger: logger
        )
        cache.forget(accountID)
    }

    /// Marks a payment as fraud: its card (by fingerprint) and its payer's email join the block
    /// lists. Returns false when there is no such payment.
    public func markFraud(accountID: AccountID, paymentID: PaymentID) async throws -> Bool {
        let rows = try await database.query(
            """
            WITH p AS (SELECT card_fingerprint, lower(email) AS email FROM payments WHERE account_id = \(accountID) AND id = \(paymentID))
            INSERT INTO risk_rules (account_id, blocked_cards, blocked_emails)
            SELECT \(accountID), CASE WHEN p.card_fingerprint IS NULL THEN '{}'::text[] ELSE ARRAY[p.card_fingerprint] END,
                   CASE WHEN p.email IS NULL THEN '{}'::text[] ELSE ARRAY[p.email] END
            FROM p
            ON CONFLICT (account_id) DO UPDATE SET
                blocked_cards = (SELECT coalesce(array_agg(DISTINCT c), '{}') FROM unnest(risk_rules.blocked_cards || excluded.blocked_cards) AS c),
                blocked_emails = (SELECT coalesce(array_agg(DISTINCT e), '{}') FROM unnest(risk_rules.blocked_emails || excluded.blocked_emails) AS e),
                updated_at = now()
            RETURNING account_id
            """,
            logger: logger
        )
        var found = false
        for try await _ in rows.decode(String.self) { found = true }
        cache.forget(accountID)
        return found
    }
}

/// The rules kept per process for `RiskStore.cachedRules`.
public final class ExpiringRules: Sendable {
    private let entries = Mutex<[AccountID: (RiskRules, ContinuousClock.Instant)]>([:])
    let ttl: Duration

    public init(ttl: Duration) { self.ttl = ttl }

    func get(_ account: AccountID) -> RiskRules? {
        let now = ContinuousClock.now
        return entries.withLock { $0[account].flatMap { $0.1 > now ? $0.0 : nil } }
    }

    func put(_ account: AccountID, _ rules: RiskRules) {
        let until = ContinuousClock.now.advanced(by: ttl)
        entries.withLock { entries in
            if entries.count > 10_000 { entries.removeAll() }
            entries[account] = (rules, until)
        }
    }

    func forget(_ account: AccountID) { _ = entries.withLock { $0.removeValue(forKey: account) } }
}
