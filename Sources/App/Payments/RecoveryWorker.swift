import Logging
import PaymentCore
import ServiceLifecycle

/// Resolves payments left in `processing` (a crash or a lost connection between committing
/// `processing` and committing the issuer's answer) by asking the issuer about each attempt.
/// Several processes may run it: resolving is idempotent and each finish locks the payment row.
struct RecoveryWorker: Service {
    let payments: Payments
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let finished = try await payments.recoverStuckPayments()
                    if finished > 0 { logger.notice("recovery worker finished payments", metadata: ["count": "\(finished)"]) }
                } catch {
                    logger.warning("recovery pass failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
