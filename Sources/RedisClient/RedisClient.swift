import Logging
import NIOPosix
import Synchronization

/// An async Redis client over hiredis.
///
/// A bounded pool of blocking connections; every command runs on a dedicated
/// thread pool, never on an event loop. A connection found broken (Redis
/// restarted) is reopened and the command retried once.
public final class RedisClient: Sendable {
    public let configuration: RedisConfiguration
    private let threadPool: NIOThreadPool
    private let pool: Mutex<PoolState>
    private let logger: Logger
    /// The master the Sentinels named, shared by every connection (nil without Sentinels).
    private let master: MasterLocator?

    private struct PoolState: ~Copyable {
        var idle: [RedisConnection] = []
        var open = 0
        var waiters: [CheckedContinuation<RedisConnection, any Error>] = []
        var isShutdown = false
    }

    public init(configuration: RedisConfiguration, logger: Logger = Logger(label: "kassa.redis")) {
        self.configuration = configuration
        self.logger = logger
        self.threadPool = NIOThreadPool(numberOfThreads: max(1, configuration.maximumConnections))
        self.threadPool.start()
        self.pool = Mutex(PoolState())
        self.master = configuration.sentinels.isEmpty ? nil : MasterLocator(configuration: configuration)
    }

    /// Closes every connection and stops the thread pool. Later commands throw `RedisError.shutdown`.
    public func shutdown() async {
        let (idle, waiters) = self.pool.withLock { state in
            state.isShutdown = true
            let idle = state.idle
            let waiters = state.waiters
            state.idle = []
            state.waiters = []
            return (idle, waiters)
        }
        waiters.forEach { $0.resume(throwing: RedisError.shutdown) }
        idle.forEach { $0.close() }
        try? await self.threadPool.shutdownGracefully()
    }

    /// Sends one command (`["SET", key, value]`) and returns its reply.
    @discardableResult
    public func send(_ arguments: [String]) async throws -> RedisValue {
        let connection = try await self.acquire()
        do {
            let value = try await self.threadPool.runIfActive { try connection.run(arguments) }
            self.release(connection)
            return value
        } catch {
            self.release(connection)
            if case RedisError.connection = error {
                self.logger.warning("redis command failed", metadata: ["command": "\(arguments.first ?? "")", "error": "\(error)"])
            }
            throw error
        }
    }

    private func acquire() async throws -> RedisConnection {
        enum Next { case use(RedisConnection), create, wait, shutdown }
        let next: Next = self.pool.withLock { state in
            if state.isShutdown { return .shutdown }
            if let connection = state.idle.popLast() { return .use(connection) }
            if state.open < configuration.maximumConnections {
                state.open += 1
                return .create
            }
            return .wait
        }
        switch next {
        case .use(let connection): return connection
        case .create: return RedisConnection(configuration: configuration, master: master)
        case .shutdown: throw RedisError.shutdown
        case .wait:
            return try await withCheckedThrowingContinuation { continuation in
                let ready: RedisConnection?? = self.pool.withLock { state in
                    if state.isShutdown { return .some(nil) }
                    if let connection = state.idle.popLast() { return .some(connection) }
                    state.waiters.append(continuation)
                    return .none
                }
                switch ready {
                case .none: break
                case .some(.none): continuation.resume(throwing: RedisError.shutdown)
                case .some(.some(let connection)): continuation.resume(returning: connection)
                }
            }
        }
    }

    private func release(_ connection: RedisConnection) {
        let waiter: CheckedContinuation<RedisConnection, any Error>? = self.pool.withLock { state in
            if state.isShutdown {
                connection.close()
                return nil
            }
            if !state.waiters.isEmpty { return state.waiters.removeFirst() }
            state.idle.append(connection)
            return nil
        }
        waiter?.resume(returning: connection)
    }
}

extension RedisClient {
    /// `GET key`; nil when the key does not exist.
    public func get(_ key: String) async throws -> String? {
        try await self.send(["GET", key]).string
    }

    /// `SET key value [PX ms] [NX]`. Returns false when NX was asked and the key already existed.
    @discardableResult
    public func set(_ key: String, to value: String, expiresInMilliseconds: Int? = nil, onlyIfAbsent: Bool = false) async throws -> Bool {
        var arguments = ["SET", key, value]
        if let expiresInMilliseconds { arguments += ["PX", String(expiresInMilliseconds)] }
        if onlyIfAbsent { arguments.append("NX") }
        return try await !self.send(arguments).isNull
    }

    /// `DEL key…`; how many keys were removed.
    @discardableResult
    public func delete(_ keys: [String]) async throws -> Int {
        guard !keys.isEmpty else { return 0 }
        return Int(try await self.send(["DEL"] + keys).integer ?? 0)
    }

    /// `INCR key`; the new value.
    public func increment(_ key: String) async throws -> Int64 {
        guard let value = try await self.send(["INCR", key]).integer else { throw RedisError.server("INCR returned no integer") }
        return value
    }

    /// `EXPIRE key seconds`; false when the key does not exist.
    @discardableResult
    public func expire(_ key: String, seconds: Int) async throws -> Bool {
        try await self.send(["EXPIRE", key, String(seconds)]).integer == 1
    }

    /// `PING`; throws when Redis cannot be reached.
    public func ping() async throws {
        _ = try await self.send(["PING"])
    }

    /// Runs a Lua script through `EVALSHA`, loading it with `EVAL` when Redis does not know it yet
    /// (first use, or after a restart flushed the script cache).
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [String]) async throws -> RedisValue {
        let tail = [String(keys.count)] + keys + arguments
        do {
            return try await self.send(["EVALSHA", script.sha1] + tail)
        } catch RedisError.server(let message) where message.hasPrefix("NOSCRIPT") {
            return try await self.send(["EVAL", script.source] + tail)
        }
    }
}
