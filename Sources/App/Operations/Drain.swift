import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Whether this process is draining: `/ready` answers 503 so a load balancer stops sending it
/// requests, while it still serves the ones that reach it.
public final class Readiness: Sendable {
    private let draining = Atomic<Bool>(false)

    public init() {}

    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    func drain() { draining.store(true, ordering: .relaxed) }
}

/// SIGTERM, for a release behind a load balancer: `/ready` turns 503 at once, the server keeps
/// serving for `KASSA_DRAIN_SECONDS` (the load balancer's health checks see it down and send new
/// requests elsewhere), then the service group shuts down gracefully, finishing requests in
/// flight. SIGINT (Ctrl-C) shuts down at once, as before.
public struct Drainer: Service {
    let readiness: Readiness
    let seconds: Int
    let logger: Logger

    public init(readiness: Readiness, seconds: Int, logger: Logger) {
        self.readiness = readiness
        self.seconds = seconds
        self.logger = logger
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sigterm)
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                readiness.drain()
                logger.notice("SIGTERM: draining", metadata: ["seconds": "\(seconds)"])
                try? await Task.sleep(for: .seconds(seconds))
                return
            }
        }
    }

    /// The server and the drainer in one group: the drainer returning shuts the group down
    /// gracefully; SIGINT does so at once.
    public static func serviceGroup(app: some Service, drainer: Drainer, logger: Logger) -> ServiceGroup {
        ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: app),
                    .init(service: drainer, successTerminationBehavior: .gracefullyShutdownGroup),
                ],
                gracefulShutdownSignals: [.sigint],
                logger: logger))
    }
}
