import Hummingbird
import Logging
import PaymentCore
import Prometheus
import RedisClient
import ServiceLifecycle

/// Each account's last write position (`ReplicaReads.Marks`), in Redis so every process sees the
/// writes made through the others. A mark only ever moves forward, and it is forgotten after
/// `ttl` seconds, far past the lag at which the replica is no longer read at all.
struct RedisWriteMarks: ReplicaReads.Marks {
    let redis: RedisClient
    let prefix: String
    var ttlSeconds = 600

    static let script = RedisScript(
        """
        local kept = tonumber(redis.call('GET', KEYS[1]) or '0')
        if tonumber(ARGV[1]) > kept then
            redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
        else
            redis.call('EXPIRE', KEYS[1], ARGV[2])
        end
        return 1
        """
    )

    func key(_ account: AccountID) -> String { "\(prefix)wrote:\(account.rawValue)" }

    func latest(_ account: AccountID) async throws -> UInt64? {
        try await redis.get(key(account)).flatMap { UInt64($0) }
    }

    func record(_ account: AccountID, position: UInt64) async throws {
        // Positions stay below 2^53 for as long as PostgreSQL writes WAL at any real rate, so Lua's
        // numbers compare them exactly.
        _ = try await redis.evaluate(Self.script, keys: [key(account)], arguments: [String(position), String(ttlSeconds)])
    }
}

/// After a request by a signed-in merchant or an API key that may have changed something (any
/// method but GET and HEAD, whatever its answer: an error page may follow a commit), keeps the
/// account's write position, so its next list is not read from a replica that lacks the change.
struct WriteMarkMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let reads: ReplicaReads

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard reads.replica != nil, request.method != .get, request.method != .head else { return try await next(request, context) }
        let account = context.session?.accountID ?? context.apiClient?.accountID
        do {
            let response = try await next(request, context)
            if let account { await reads.wrote(account) }
            return response
        } catch {
            if let account { await reads.wrote(account) }
            throw error
        }
    }
}

/// Asks the replica and the primary where they are five times a second: whether the replica is
/// usable, and `kassa_replica_lag_seconds`, `kassa_replica_lag_bytes`, `kassa_replica_up`.
struct ReplicaMonitor: Service {
    let reads: ReplicaReads
    let registry: PrometheusCollectorRegistry

    func run() async throws {
        let seconds = registry.makeGauge(name: "kassa_replica_lag_seconds")
        let bytes = registry.makeGauge(name: "kassa_replica_lag_bytes")
        let up = registry.makeGauge(name: "kassa_replica_up")
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let health = await reads.refresh()
                seconds.set(health.lagSeconds)
                bytes.set(Double(health.lagBytes))
                up.set(Double(health.up ? 1 : 0))
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
    }
}
