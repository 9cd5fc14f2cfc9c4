import Logging
import PaymentCore
import Prometheus
import ServiceLifecycle

/// A background job that runs every `interval` until shutdown: the recovery worker (payments
/// stuck in `processing`) and the expiry worker (links past their expiry). Each pass is safe to
/// run in several processes at once; the work itself takes row locks or skips locked rows.
struct PeriodicWorker: NamedService {
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

/// Runs a consumer of the transaction log until shutdown: pass after pass while passes come back
/// full (it is behind), a pause of `idle` after one that was not.
struct ConsumerWorker: NamedService {
    let name: String
    let limit: Int
    let idle: Duration
    let logger: Logger
    var deadline: Duration = .seconds(60)
    let pass: @Sendable (Int) async throws -> Int

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                var full = false
                do {
                    let limit = self.limit
                    let read = try await Deadline.run(deadline) { try await pass(limit) }
                    full = read >= limit
                } catch {
                    logger.warning("\(name) consumer pass failed", metadata: ["error": "\(error)"])
                }
                if !full { try? await Task.sleep(for: idle) }
            }
        }
    }
}

/// `kassa_consumer_lag_seconds{consumer}`: how old the oldest event each consumer has not read is,
/// refreshed every second.
struct ConsumerLagGauge: Service {
    let log: EventLog
    let registry: PrometheusCollectorRegistry
    let logger: Logger

    func run() async throws {
        let gauges = Dictionary(
            uniqueKeysWithValues: EventLog.Consumer.allCases.map {
                ($0, registry.makeGauge(name: "kassa_consumer_lag_seconds", labels: [("consumer", $0.rawValue)]))
            })
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    for lag in try await Deadline.run(.seconds(10), { try await log.lag() }) { gauges[lag.consumer]?.set(lag.seconds) }
                } catch {
                    logger.debug("could not read consumer lag", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}
