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

    /// Counts one charge attempt; throws the 429 page when a budget is spent.
    func admit(client: String, subject: String, card: CardDetails) async throws {
        let decisions = try await limiter.hit([
            ("payer:ip:\(client)", perIP, 1), ("payer:subject:\(subject)", perSubject, 1), (cardBucket(card), perCard, 1),
        ])
        let refused = decisions.filter { !$0.allowed }
        guard refused.isEmpty else {
            throw Self.tooMany(retryAfter: refused.map(\.resetSeconds).max() ?? 60)
        }
    }

    /// A declined attempt counts double on its card.
    func declined(card: CardDetails) async throws {
        _ = try await limiter.hit([(cardBucket(card), perCard, 1)])
    }

    private func cardBucket(_ card: CardDetails) -> String { "payer:card:\(card.fingerprint(key: fingerprintKey))" }

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
