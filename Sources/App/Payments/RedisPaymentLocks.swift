import Crypto
import Foundation
import PaymentCore
import RedisClient

/// `PaymentLocks` in Redis: `SET key token NX PX ttl`, released only by the holder's token.
public struct RedisPaymentLocks: PaymentLocks {
    let redis: RedisClient
    let prefix: String

    public init(redis: RedisClient, prefix: String) {
        self.redis = redis
        self.prefix = prefix
    }

    /// Deletes the key only while it still holds our token (a lock that expired and was taken
    /// by someone else is theirs).
    static let release = RedisScript(
        """
        if redis.call('GET', KEYS[1]) == ARGV[1] then
            return redis.call('DEL', KEYS[1])
        end
        return 0
        """
    )

    public func acquire(_ key: String, ttlMilliseconds: Int) async throws -> String? {
        let token = Identifier.make("lock")
        let taken = try await redis.set(prefix + key, to: token, expiresInMilliseconds: ttlMilliseconds, onlyIfAbsent: true)
        return taken ? token : nil
    }

    public func release(_ key: String, token: String) async throws {
        _ = try await redis.evaluate(Self.release, keys: [prefix + key], arguments: [token])
    }
}
