import Hummingbird
import Logging
import ServiceLifecycle
import Testing

@testable import App

@Suite("Stopping: what a process still waits for")
struct DrainTests {
    /// Ignores the graceful shutdown until its gate closes, as a worker stuck in a query would.
    struct Stubborn: NamedService {
        let name = "stubborn worker"
        let gate: AsyncStream<Void>
        func run() async throws { for await _ in gate {} }
    }

    struct Polite: Service {
        func run() async throws { try? await gracefulShutdown() }
    }

    /// The log's "still stopping" names the service that has been asked to stop and has not; before
    /// any service is asked, it is the HTTP server that waits (for requests in flight).
    @Test func aStoppingProcessSaysWhatItWaitsFor() async throws {
        let readiness = Readiness()
        let (gate, open) = AsyncStream<Void>.makeStream()
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: readiness.watched(Stubborn(gate: gate))), .init(service: readiness.watched(Polite()))],
                logger: Logger(label: "drain-test")))
        #expect(readiness.waitingFor == "the HTTP server (no request in flight)")
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await Task.sleep(for: .milliseconds(100))
            await group.triggerGracefulShutdown()
            // The last service stops first; then the stubborn one is asked, and holds the stop up.
            var waited = 0
            while readiness.waitingFor != "stubborn worker", waited < 100 {
                try await Task.sleep(for: .milliseconds(50))
                waited += 1
            }
            #expect(readiness.waitingFor == "stubborn worker")
            open.finish()
            try await tasks.waitForAll()
        }
        #expect(readiness.waitingFor == "nothing of Kassa's own")
    }

    /// Before the services are asked, the requests the server waits for are named by route (never
    /// by path: a payer's holds the link's token), oldest first, with their request ids.
    @Test func theRequestsInFlightAreNamedByRoute() {
        let readiness = Readiness()
        let now = ContinuousClock.now
        func route(_ path: String?) -> EndpointPath {
            let route = EndpointPath()
            route.value = path
            return route
        }
        let checkout = readiness.started(
            .init(method: "POST", requestID: "req_old", since: now - .seconds(42), route: route("/pay/{token}")))
        let page = readiness.started(.init(method: "GET", requestID: "req_new", since: now - .seconds(2), route: route("/payments")))
        let waiting = readiness.waitingFor
        #expect(waiting.hasPrefix("the HTTP server: 2 requests in flight, oldest POST /pay/{token} for 42."), "\(waiting)")
        #expect(waiting.contains(" s (req_old); GET /payments for 2."), "\(waiting)")
        readiness.ended(checkout)
        readiness.ended(page)
        let unrouted = readiness.started(.init(method: "GET", requestID: "req_lost", since: now, route: route(nil)))
        #expect(readiness.waitingFor.hasPrefix("the HTTP server: 1 request in flight, oldest GET unmatched for "))
        readiness.ended(unrouted)
        #expect(readiness.waitingFor == "the HTTP server (no request in flight)")
    }
}
