import Foundation
import Hummingbird
import Logging
import PaymentCore
import Prometheus

/// Gives each request an id (`X-Request-Id` in and out), writes one access-log line
/// and records request metrics by route, method and status.
///
/// Only the path is logged, never the query string, headers or body, so no
/// session id, token or password can reach the log; a route whose path holds a secret
/// (`{token}`, an invitation's) is logged as its route.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let metrics: RequestMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var context = context
        let incoming = request.headers[.init("X-Request-Id")!] ?? ""
        context.requestID = Self.isUsable(incoming) ? incoming : Self.makeID()
        context.logger[metadataKey: "request_id"] = .string(context.requestID)
        let status: HTTPResponse.Status
        var response: Response
        do {
            response = try await next(request, context)
            status = response.status
        } catch {
            // Turned into a response further out; still one line here.
            status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            self.record(request, context: context, status: status, since: start)
            throw error
        }
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

    func observe(route: String, method: String, status: Int, duration: Duration) {
        stats.request(status: status)
        let labels = [("route", route), ("method", method), ("status", String(status))]
        registry.makeCounter(descriptor: Self.requests, labels: labels).increment()
        registry.makeDurationHistogram(
            descriptor: Self.duration,
            labels: [("route", route), ("method", method)],
            buckets: Self.buckets
        ).recordNanoseconds(Int64(duration.components.seconds) * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}
