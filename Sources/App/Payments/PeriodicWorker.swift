import Logging
import ServiceLifecycle

/// A background job that runs every `interval` until shutdown: the recovery worker (payments
/// stuck in `processing`) and the expiry worker (links past their expiry). Each pass is safe to
/// run in several processes at once; the work itself takes row locks or skips locked rows.
struct PeriodicWorker: Service {
    let name: String
    let interval: Duration
    let logger: Logger
    let pass: @Sendable () async throws -> Int

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let done = try await pass()
                    if done > 0 { logger.notice("\(name) worker finished a pass", metadata: ["count": "\(done)"]) }
                } catch {
                    logger.warning("\(name) worker pass failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
