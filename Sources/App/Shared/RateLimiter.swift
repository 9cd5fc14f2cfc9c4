import RedisClient

/// Fixed-window counters in Redis, incremented and read atomically by one Lua script,
/// so every server process shares the same budget.
public struct RateLimiter: Sendable {
    let redis: RedisClient
    let prefix: String

    public struct Decision: Sendable, Equatable {
        public var allowed: Bool
        public var limit: Int
        public var remaining: Int
        /// Seconds until the window resets.
        public var resetSeconds: Int
    }

    static let script = RedisScript(
        """
        local count = redis.call('INCR', KEYS[1])
        local ttl = redis.call('PTTL', KEYS[1])
        if count == 1 or ttl < 0 then
            redis.call('PEXPIRE', KEYS[1], ARGV[1])
            ttl = tonumber(ARGV[1])
        end
        return {count, ttl}
        """
    )

    /// Forgets what `bucket` has counted (a login that succeeded clears its email's failures).
    public func reset(_ bucket: String) async throws {
        _ = try await redis.send(["DEL", prefix + "rate:" + bucket])
    }

    /// Counts one attempt under `bucket` (for example `login:ip:127.0.0.1`).
    public func hit(_ bucket: String, rate: RateLimit) async throws -> Decision {
        let reply = try await redis.evaluate(
            Self.script,
            keys: [prefix + "rate:" + bucket],
            arguments: [String(rate.windowSeconds * 1000)]
        )
        let values = reply.array ?? []
        let count = Int(values.first?.integer ?? 1)
        let ttlMilliseconds = Int(values.dropFirst().first?.integer ?? Int64(rate.windowSeconds * 1000))
        return Decision(
            allowed: count <= rate.limit,
            limit: rate.limit,
            remaining: max(0, rate.limit - count),
            resetSeconds: max(1, (ttlMilliseconds + 999) / 1000)
        )
    }
}
