import Foundation
import Hummingbird
import PaymentCore
import PostgresNIO
import Prometheus
import RedisClient

/// `/health`, `/ready` and `/metrics`: for load balancers and monitoring, outside sessions.
struct OperationsController: Sendable {
    let database: PostgresClient
    let redis: RedisClient
    let registry: PrometheusCollectorRegistry
    let metrics: KassaMetrics
    /// The issuers' circuit states, read at each scrape.
    let circuits: @Sendable () -> [String: Bool]
    /// Draining after SIGTERM: /ready says 503 so the load balancer moves on.
    let readiness: Readiness
    /// How long each dependency may take to answer (two seconds; tests on a busy machine allow more).
    var timeout: Duration = .seconds(2)

    func addRoutes(to router: Router<AppRequestContext>) {
        router.get("/health", use: self.health)
        router.get("/ready", use: self.ready)
        router.get("/metrics", use: self.metrics)
    }

    /// This process alone (a load balancer's check): 200, or 503 while it drains after SIGTERM. It
    /// does not ask PostgreSQL or Redis: every process shares them, and taking all of them out of
    /// the load balancer because Redis is failing over would turn a few errors into an outage.
    func health(_ request: Request, context: AppRequestContext) async throws -> Response {
        readiness.isDraining ? Self.json(.serviceUnavailable, #"{"status":"draining"}"#) : Self.json(.ok, #"{"status":"ok"}"#)
    }

    /// 200 when PostgreSQL and Redis both answer within the readiness timeout; 503 naming what is
    /// down. `Deadline` stops waiting even for a query PostgresNIO cannot cancel.
    func ready(_ request: Request, context: AppRequestContext) async throws -> Response {
        if readiness.isDraining { return Self.json(.serviceUnavailable, #"{"status":"draining"}"#) }
        let (postgres, redisState) = await dependencies()
        var down: [String] = []
        if postgres != nil { down.append("postgresql") }
        if redisState != nil { down.append("redis") }
        let body: [String: String] = [
            "status": down.isEmpty ? "ready" : "unavailable",
            "postgresql": postgres.map { "down: \($0)" } ?? "ok",
            "redis": redisState.map { "down: \($0)" } ?? "ok",
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let text = String(decoding: try encoder.encode(body), as: UTF8.self)
        return Self.json(down.isEmpty ? .ok : .serviceUnavailable, text)
    }

    /// What is wrong with PostgreSQL and with Redis, each nil when it answered in time.
    private func dependencies() async -> (postgresql: String?, redis: String?) {
        let database = self.database
        let redis = self.redis
        let timeout = self.timeout
        async let postgresProblem: String? = Self.problem {
            try await Deadline.run(timeout) { _ = try await database.query("SELECT 1") }
        }
        async let redisProblem: String? = Self.problem {
            try await Deadline.run(timeout) { try await redis.ping() }
        }
        return await (postgresProblem, redisProblem)
    }

    /// The bearer token `/metrics` asks for; with none, whether it is served at all (a development server).
    var metricsToken: String? = nil
    var openMetrics = false

    /// Prometheus's text format, to whoever shows the token (compared in constant time); 404
    /// without a token configured unless this is a development server, 401 with a wrong one.
    func metrics(_ request: Request, context: AppRequestContext) async throws -> Response {
        if let metricsToken {
            let given = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil } ?? ""
            guard ConstantTime.equal(given, metricsToken) else {
                return Response(status: .unauthorized, headers: [.wwwAuthenticate: "Bearer realm=\"metrics\""])
            }
        } else if !openMetrics {
            throw HTTPError(.notFound)
        }
        let (postgres, redisState) = await dependencies()
        metrics.refresh(circuits: circuits(), ready: (postgres == nil && !readiness.isDraining, redisState == nil))
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer()))
        )
    }

    private static func problem(_ check: @Sendable () async throws -> Void) async -> String? {
        do {
            try await check()
            return nil
        } catch let exceeded as Deadline.Exceeded {
            return "no answer within \(exceeded.limit)"
        } catch {
            return "unreachable"
        }
    }

    static func json(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: body))
        )
    }
}
