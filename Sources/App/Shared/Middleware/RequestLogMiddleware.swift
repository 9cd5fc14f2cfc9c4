import Foundation
import Hummingbird
import Logging
import PaymentCore
import Prometheus
import Synchronization

/// Gives each request an id (`X-Request-Id` in and out) and a trace (W3C `traceparent` in, a new
/// trace otherwise: its id is on every log line of the request), writes one access-log line,
/// records request metrics by route, method and status, and exports the request's server span
/// when tracing is on.
///
/// Only the path is logged, never the query string, headers or body, so no
/// session id, token or password can reach the log; a route whose path holds a secret
/// (`{token}`, an invitation's) is logged as its route.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let metrics: RequestMetrics
    /// Where spans go (`KASSA_OTLP_ENDPOINT`); nil: trace ids in the logs only.
    var spans: (any SpanSink)? = nil
    /// Told of every request while it is served, so a slow stop can name them.
    var readiness: Readiness? = nil

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var context = context
        let incoming = request.headers[.init("X-Request-Id")!] ?? ""
        context.requestID = Self.isUsable(incoming) ? incoming : Self.makeID()
        context.logger[metadataKey: "request_id"] = .string(context.requestID)
        let parent = request.headers[.init("traceparent")!].flatMap(TraceContext.init(traceparent:))
        let span = parent?.child() ?? TraceContext.root()
        context.logger[metadataKey: "trace_id"] = .string(span.traceID)
        let started = Trace.now()
        let flight = readiness?.started(
            .init(method: request.method.rawValue, requestID: context.requestID, since: start, route: context.coreContext.endpointPath))
        defer { if let flight { readiness?.ended(flight) } }
        let status: HTTPResponse.Status
        var response: Response
        do {
            response = try await Trace.$current.withValue(Trace.Scope(context: span, sink: spans)) { try await next(request, context) }
            status = response.status
        } catch {
            // Turned into a response further out; still one line here.
            status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            self.record(request, context: context, status: status, since: start)
            self.export(span, parent: parent, request: request, context: context, status: status, started: started)
            throw error
        }
        self.export(span, parent: parent, request: request, context: context, status: status, started: started)
        response.headers[.init("X-Request-Id")!] = context.requestID
        self.record(request, context: context, status: status, since: start)
        return response
    }

    private func record(_ request: Request, context: Context, status: HTTPResponse.Status, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let route = context.endpointPath ?? "unmatched"
        metrics.observe(route: route, method: request.method.rawValue, status: status.code, duration: elapsed)
        let milliseconds = Double(elapsed.components.attoseconds / 1_000_000_000_000) / 1000 + Double(elapsed.components.seconds) * 1000
        context.logger.info(
            "request",
            metadata: [
                "method": .string(request.method.rawValue),
                "path": .string(route.contains("{token}") ? route : request.uri.path),
                "route": .string(route),
                "status": .stringConvertible(status.code),
                "duration_ms": .string(String(format: "%.2f", milliseconds)),
                "remote": .string(context.remoteAddress),
            ]
        )
    }

    private func export(
        _ span: TraceContext, parent: TraceContext?, request: Request, context: Context, status: HTTPResponse.Status, started: UInt64
    ) {
        guard let spans, span.sampled else { return }
        let route = context.endpointPath ?? "unmatched"
        spans.export(
            FinishedSpan(
                context: span, parentSpanID: parent?.spanID, name: "\(request.method.rawValue) \(route)", kind: .server, start: started,
                end: Trace.now(),
                attributes: [
                    ("http.request.method", request.method.rawValue), ("http.route", route), ("http.response.status_code", String(status.code)),
                ],
                error: status.code >= 500 ? "HTTP \(status.code)" : nil))
    }

    static func isUsable(_ id: String) -> Bool { ASCIIToken.isValid(id, length: 1...128) }

    static func makeID() -> String {
        var generator = SystemRandomNumberGenerator()
        return "req_" + String(generator.next() as UInt64, radix: 36) + String(generator.next() as UInt32, radix: 36)
    }
}

/// Request counts and latency in the Prometheus registry served at /metrics.
struct RequestMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    /// The same requests for the operator's console (its error rate).
    let stats: OpsStats
    static let buckets: [Duration] = [
        .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
    ]

    static var requests: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "kassa", subsystem: "http", metricName: "requests", unitName: "total", helpText: "HTTP requests by route, method and status"
        )
    }
    static var duration: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "kassa", subsystem: "http", metricName: "request_duration", unitName: "seconds",
            helpText: "HTTP request latency by route and method"
        )
    }

    /// Each route, method and status's counter and histogram, asked of the registry once: asking it
    /// on every request (its lock, its label checks) was 3% of the checkout page's CPU. Routes are
    /// the router's, so there are as many as it has routes times methods and statuses.
    let handles = Handles()

    final class Handles: Sendable {
        struct Key: Hashable {
            let route: String
            let method: String
            let status: Int
        }

        let kept = Mutex<[Key: (Counter, DurationHistogram)]>([:])
    }

    func observe(route: String, method: String, status: Int, duration: Duration) {
        stats.request(status: status)
        let key = Handles.Key(route: route, method: method, status: status)
        let (counter, histogram) =
            handles.kept.withLock { $0[key] }
            ?? {
                let made = (
                    registry.makeCounter(descriptor: Self.requests, labels: [("route", route), ("method", method), ("status", String(status))]),
                    registry.makeDurationHistogram(descriptor: Self.duration, labels: [("route", route), ("method", method)], buckets: Self.buckets)
                )
                handles.kept.withLock { $0[key] = made }
                return made
            }()
        counter.increment()
        histogram.recordNanoseconds(Int64(duration.components.seconds) * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}
