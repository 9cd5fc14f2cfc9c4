import Foundation
import RedisClient
import Testing

@Suite("RedisClient over hiredis")
struct RedisClientTests {
    static func prefix() -> String { "t:redis:\(UUID().uuidString):" }

    @Test func getSetDeleteAndExpiry() async throws {
        let redis = RedisClient(configuration: RedisServer.configuration)
        let key = Self.prefix() + "k"
        #expect(try await redis.get(key) == nil)
        #expect(try await redis.set(key, to: "héllo wörld"))
        #expect(try await redis.get(key) == "héllo wörld")
        #expect(try await redis.set(key, to: "other", onlyIfAbsent: true) == false)
        #expect(try await redis.get(key) == "héllo wörld")
        #expect(try await redis.expire(key, seconds: 100))
        let ttl = try await redis.send(["TTL", key]).integer
        #expect(ttl.map { $0 > 0 && $0 <= 100 } == true)
        #expect(try await redis.delete([key]) == 1)
        #expect(try await redis.get(key) == nil)
        await redis.shutdown()
    }

    @Test func setWithPXExpires() async throws {
        let redis = RedisClient(configuration: RedisServer.configuration)
        let key = Self.prefix() + "px"
        #expect(try await redis.set(key, to: "1", expiresInMilliseconds: 50, onlyIfAbsent: true))
        try await Task.sleep(for: .milliseconds(120))
        #expect(try await redis.get(key) == nil)
        await redis.shutdown()
    }

    @Test func incrementIsAtomicUnderConcurrency() async throws {
        let redis = RedisClient(configuration: RedisServer.configuration)
        let key = Self.prefix() + "counter"
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<200 {
                group.addTask { _ = try await redis.increment(key) }
            }
            try await group.waitForAll()
        }
        #expect(try await redis.get(key) == "200")
        await redis.shutdown()
    }

    @Test func evaluateLoadsScriptsOnFirstUse() async throws {
        let redis = RedisClient(configuration: RedisServer.configuration)
        let script = RedisScript("return {KEYS[1], ARGV[1], redis.call('INCRBY', KEYS[1], ARGV[1])}")
        let key = Self.prefix() + "lua"
        let first = try await redis.evaluate(script, keys: [key], arguments: ["5"])
        #expect(first == .array([.string(key), .string("5"), .integer(5)]))
        let second = try await redis.evaluate(script, keys: [key], arguments: ["2"])
        #expect(second.array?.last == .integer(7))
        #expect(script.sha1.count == 40)
        await redis.shutdown()
    }

    @Test func serverErrorsAreThrownNotSwallowed() async throws {
        let redis = RedisClient(configuration: RedisServer.configuration)
        let key = Self.prefix() + "text"
        try await redis.set(key, to: "not a number")
        await #expect(throws: RedisError.self) { try await redis.increment(key) }
        // The connection stays usable after an error reply.
        #expect(try await redis.get(key) == "not a number")
        await redis.shutdown()
    }

    @Test func poolIsBounded() async throws {
        var configuration = RedisServer.configuration
        configuration.maximumConnections = 2
        let redis = RedisClient(configuration: configuration)
        let observer = RedisClient(configuration: RedisServer.configuration)
        let key = Self.prefix() + "slow"
        // Six blocking commands through two connections: all complete, and Redis never sees more
        // than two of them waiting at once (no other code or test sends BLPOP).
        let most = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    _ = try await redis.send(["BLPOP", key, "0.4"])
                    return 0
                }
            }
            group.addTask {
                var most = 0
                for _ in 0..<60 {
                    let clients = try await observer.send(["CLIENT", "LIST"]).string ?? ""
                    most = max(most, clients.split(separator: "\n").filter { $0.contains(" cmd=blpop ") }.count)
                    try await Task.sleep(for: .milliseconds(20))
                }
                return most
            }
            return try await group.reduce(0, max)
        }
        #expect(most == 2)
        await redis.shutdown()
        await observer.shutdown()
    }

    @Test func unreachableRedisFailsFast() async throws {
        var configuration = RedisServer.configuration
        configuration.port = 1  // nothing listens on tcpmux's port
        configuration.connectTimeoutMilliseconds = 200
        let redis = RedisClient(configuration: configuration)
        await #expect(throws: RedisError.self) { try await redis.ping() }
        await redis.shutdown()
    }

    @Test(arguments: [
        ("redis://127.0.0.1:6380/0", "127.0.0.1", 6380, 0),
        ("redis://cache:6379", "cache", 6379, 0),
        ("redis://cache/5", "cache", 6379, 5),
    ])
    func urlsAreParsed(url: String, host: String, port: Int, database: Int) throws {
        let configuration = try #require(RedisConfiguration(url: url))
        #expect(configuration.host == host)
        #expect(configuration.port == port)
        #expect(configuration.database == database)
    }

    @Test(arguments: ["http://cache", "redis://", "redis://cache/x", "redis://cache:99999"])
    func badURLsAreRefused(url: String) {
        #expect(RedisConfiguration(url: url) == nil)
    }
}

/// The Redis that `make test` starts (`KASSA_TEST_REDIS_URL`); each test writes under its own prefix.
enum RedisServer {
    static var configuration: RedisConfiguration {
        let url = ProcessInfo.processInfo.environment["KASSA_TEST_REDIS_URL"] ?? "redis://127.0.0.1:6380/0"
        guard var configuration = RedisConfiguration(url: url) else { fatalError("KASSA_TEST_REDIS_URL is not a redis:// URL: \(url)") }
        configuration.maximumConnections = 4
        return configuration
    }
}
