import RedisClient

/// Fixed-window counters in Redis, incremented and read atomically by one Lua script,
/// so every server process shares the same budget.
public struct RateLimiter: Sendable {
    let redis: RedisClient
    let prefix: String

    public struct Decision: Sendable, Equatable {
        public var allowed: Bool
        /// What the bucket has counted in this window, this hit included.
        public var count: Int = 0
        public var limit: Int
        public var remaining: Int
        /// Seconds until the window resets.
        public var resetSeconds: Int
    }

    static let script = RedisScript(
        """
        local out = {}
        for i, key in ipairs(KEYS) do
            local by = tonumber(ARGV[2 * i - 1])
            local window = tonumber(ARGV[2 * i])
            local count = redis.call('INCRBY', key, by)
            local ttl = redis.call('PTTL', key)
            if count == by or ttl < 0 then
                redis.call('PEXPIRE', key, window)
                ttl = window
            end
            out[#out + 1] = count
            out[#out + 1] = ttl
        end
        return out
        """
    )

    /// Counts under several buckets in one round trip, each by its own weight; a decision per bucket, in order.
    public func hit(_ buckets: [(bucket: String, rate: RateLimit, weight: Int)]) async throws -> [Decision] {
        guard !buckets.isEmpty else { return [] }
        let reply = try await redis.evaluate(
            Self.script,
            keys: buckets.map { prefix + "rate:" + $0.bucket },
            arguments: buckets.flatMap { [String($0.weight), String($0.rate.windowSeconds * 1000)] }
        )
        let values = reply.array ?? []
        return buckets.enumerated().map { index, bucket in
            let count = Int(values.dropFirst(2 * index).first?.integer ?? Int64(bucket.weight))
            let ttl = Int(values.dropFirst(2 * index + 1).first?.integer ?? Int64(bucket.rate.windowSeconds * 1000))
            return Decision(
                allowed: count <= bucket.rate.limit, count: count, limit: bucket.rate.limit, remaining: max(0, bucket.rate.limit - count),
                resetSeconds: max(1, (ttl + 999) / 1000))
        }
    }

    /// Remembers `bucket` for `seconds` (a mark, not a count).
    public func mark(_ bucket: String, seconds: Int) async throws {
        _ = try await redis.send(["SET", prefix + "rate:" + bucket, "1", "EX", String(seconds)])
    }

    /// Whether `bucket` is marked or counting now.
    public func isMarked(_ bucket: String) async throws -> Bool {
        (try await redis.send(["EXISTS", prefix + "rate:" + bucket]).integer ?? 0) > 0
    }

    /// Forgets what `bucket` has counted (a login that succeeded clears its email's failures).
    public func reset(_ bucket: String) async throws {
        _ = try await redis.send(["DEL", prefix + "rate:" + bucket])
    }

    /// Counts one attempt under `bucket` (for example `login:ip:127.0.0.1`).
    public func hit(_ bucket: String, rate: RateLimit) async throws -> Decision {
        try await hit([(bucket, rate, 1)])[0]
    }
}
