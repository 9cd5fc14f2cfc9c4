import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Whether this process is draining: `/ready` answers 503 so a load balancer stops sending it
/// requests, while it still serves the ones that reach it. And, once it stops, what it still waits
/// for (`Drainer` says so in the log when stopping takes long).
public final class Readiness: Sendable {
    private let draining = Atomic<Bool>(false)
    private let services = Mutex<[(name: String, phase: Phase)]>([])

    enum Phase { case running, stopping, stopped }

    public init() {}

    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    func drain() { draining.store(true, ordering: .relaxed) }

    /// `service`, telling this when it is asked to stop and when it has.
    func watched(_ service: any Service) -> any Service {
        let name = (service as? any NamedService)?.name ?? String(describing: type(of: service))
        let index = services.withLock { services in
            services.append((name, .running))
            return services.count - 1
        }
        return Watched(base: service) { phase in self.services.withLock { $0[index].phase = phase } }
    }

    /// A request being served, for `waitingFor`: its route is read when it is named (the router
    /// finds it after this is recorded, into the context's endpoint path, which is shared by reference).
    struct InFlight: Sendable {
        let method: String
        let requestID: String
        let since: ContinuousClock.Instant
        let route: EndpointPath
    }

    private let inFlight = Mutex<(next: UInt64, requests: [UInt64: InFlight])>((0, [:]))

    /// Records a request as served until `ended` is called with what this returns.
    func started(_ request: InFlight) -> UInt64 {
        inFlight.withLock { state in
            state.next &+= 1
            state.requests[state.next] = request
            return state.next
        }
    }

    func ended(_ id: UInt64) {
        _ = inFlight.withLock { $0.requests.removeValue(forKey: id) }
    }

    /// What a stopping process still waits for. The HTTP server stops first and waits for the
    /// requests in flight (named, oldest first, by route: never a path, which may hold a token);
    /// the services stop after it, one by one.
    var waitingFor: String {
        let phase = services.withLock { services -> String? in
            let stopping = services.filter { $0.phase == .stopping }.map(\.name)
            if !stopping.isEmpty { return stopping.joined(separator: ", ") }
            if services.allSatisfy({ $0.phase == .running }) { return nil }
            return "nothing of Kassa's own"
        }
        if let phase { return phase }
        let requests = inFlight.withLock { Array($0.requests.values) }.sorted { $0.since < $1.since }
        guard !requests.isEmpty else { return "the HTTP server (no request in flight)" }
        let now = ContinuousClock.now
        let named = requests.prefix(3).map { request in
            let age = now - request.since
            let seconds = Double(age.components.seconds) + Double(age.components.attoseconds) / 1e18
            return "\(request.method) \(request.route.value ?? "unmatched") for \(String(format: "%.1f", seconds)) s (\(request.requestID))"
        }
        return "the HTTP server: \(requests.count) request\(requests.count == 1 ? "" : "s") in flight, oldest \(named.joined(separator: "; "))"
    }

    private struct Watched: Service {
        let base: any Service
        let record: @Sendable (Phase) -> Void

        func run() async throws {
            defer { record(.stopped) }
            try await withGracefulShutdownHandler {
                try await base.run()
            } onGracefulShutdown: {
                record(.stopping)
            }
        }
    }
}

/// A service with a name of its own for the log (the workers: "ledger", "settlements", …).
protocol NamedService: Service {
    var name: String { get }
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
                // A stop should take a second or two; if not, say what it waits for (outside the
                // group: the process ends when the group does, and this with it).
                let (readiness, logger) = (self.readiness, self.logger)
                Task.detached {
                    var slept = 0
                    for after in [10, 20, 40, 80] {
                        try? await Task.sleep(for: .seconds(after - slept))
                        slept = after
                        logger.warning("still stopping", metadata: ["seconds": "\(after)", "waiting_for": "\(readiness.waitingFor)"])
                    }
                }
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
