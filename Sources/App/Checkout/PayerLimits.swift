import Crypto
import Foundation
import PaymentCore

/// Velocity limits on what payers send to the checkout (`/pay/…` and `/embed/forms/…`), against
/// card testing: someone with a list of stolen numbers trying each for a small amount on a
/// merchant's link. A decline gives a single-use link its use back, so nothing else stops them.
/// Each charge attempt counts against the client's address, the link or form, and the card's
/// fingerprint (a keyed hash: Redis never holds a number); a declined attempt counts once more on
/// the card. Over any budget the payer gets a 429 page and nothing is charged. The defaults
/// (`KASSA_RATE_PAYER_*`) are far above what a shop's customers do and far below what a
/// card tester needs.
struct PayerLimits: Sendable {
    let limiter: RateLimiter
    let perIP: RateLimit
    let perSubject: RateLimit
    let perCard: RateLimit
    let fingerprintKey: SymmetricKey

    /// Counts one charge attempt; throws the 429 page when a budget is spent. In the same Redis
    /// call, counts the attempt for the merchant's risk rules (per card, payer email and address,
    /// an hour) and reads the card's declines there: what `RiskSignals` carries to the checkout.
    func admit(client: String, subject: String, card: CardDetails, accountID: AccountID, email: String?) async throws -> RiskSignals {
        let fingerprint = card.fingerprint(key: fingerprintKey)
        let email = email.flatMap { $0.isEmpty ? nil : $0.lowercased() }
        var buckets: [(bucket: String, rate: RateLimit, weight: Int)] = [
            ("payer:ip:\(client)", perIP, 1), ("payer:subject:\(subject)", perSubject, 1), ("payer:card:\(fingerprint)", perCard, 1),
            ("risk:card:\(accountID):\(fingerprint)", Self.riskWindow, 1), ("risk:ip:\(accountID):\(client)", Self.riskWindow, 1),
            ("risk:declines:\(accountID):\(fingerprint)", Self.riskWindow, 0),
        ]
        if let email { buckets.append(("risk:email:\(accountID):\(AccountService.digest(email))", Self.riskWindow, 1)) }
        let decisions = try await limiter.hit(buckets)
        let refused = decisions.prefix(3).filter { !$0.allowed }
        guard refused.isEmpty else {
            throw Self.tooMany(retryAfter: refused.map(\.resetSeconds).max() ?? 60)
        }
        return RiskSignals(
            cardAttempts: decisions[3].count, emailAttempts: email == nil ? 0 : decisions[6].count, ipAttempts: decisions[4].count,
            cardDeclines: decisions[5].count)
    }

    /// Counted for the risk rules, never refused by this limiter: an hour's attempts.
    static let riskWindow = RateLimit(limit: 1_000_000_000, windowSeconds: 3600)

    /// A declined attempt counts double on its card, and once among its declines at the merchant.
    func declined(card: CardDetails, accountID: AccountID) async throws {
        let fingerprint = card.fingerprint(key: fingerprintKey)
        _ = try await limiter.hit([("payer:card:\(fingerprint)", perCard, 1), ("risk:declines:\(accountID):\(fingerprint)", Self.riskWindow, 1)])
    }

    static func tooMany(retryAfter seconds: Int) -> PageError {
        let minutes = (seconds + 59) / 60
        return PageError(
            status: .tooManyRequests,
            heading: "Too many payment attempts",
            message:
                "To protect cardholders, payments here are paused for you. No money was taken. Try again in \(minutes <= 1 ? "a minute" : "\(minutes) minutes"), or contact the business.",
            headers: [.retryAfter: String(seconds)]
        )
    }
}
