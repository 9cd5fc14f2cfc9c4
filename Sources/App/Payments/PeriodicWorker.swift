import Logging
import PaymentCore
import ServiceLifecycle

/// A background job that runs every `interval` until shutdown: the recovery worker (payments
/// stuck in `processing`) and the expiry worker (links past their expiry). Each pass is safe to
/// run in several processes at once; the work itself takes row locks or skips locked rows.
struct PeriodicWorker: Service {
    let name: String
    let interval: Duration
    let logger: Logger
    var deadline: Duration = .seconds(60)
    let pass: @Sendable () async throws -> Int

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    // A pass stuck on a connection PostgreSQL dropped must not stop the worker for good.
                    let done = try await Deadline.run(deadline, pass)
                    if done > 0 { logger.notice("\(name) worker finished a pass", metadata: ["count": "\(done)"]) }
                } catch {
                    logger.warning("\(name) worker pass failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
