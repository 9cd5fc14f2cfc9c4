internal import CHiredis
import Foundation
import Synchronization

/// One hiredis connection. Used by one thread at a time: the pool hands it out
/// exclusively, so the unchecked Sendable holds.
final class RedisConnection: @unchecked Sendable {
    private var context: UnsafeMutablePointer<redisContext>?
    private let configuration: RedisConfiguration
    private let master: MasterLocator?
    /// Where this connection is open (the master it was told of).
    private var endpoint: RedisConfiguration.Endpoint?

    init(configuration: RedisConfiguration, master: MasterLocator? = nil) {
        self.configuration = configuration
        self.master = master
    }

    deinit {
        if let context { redisFree(context) }
    }

    /// Runs one command, blocking. Reconnects once when the connection turns out
    /// to be broken (Redis restarted since the last use).
    func run(_ arguments: [String]) throws -> RedisValue {
        do {
            return try self.runOnce(arguments)
        } catch RedisError.connection {
            self.forgetMaster()
            return try self.runOnce(arguments)
        } catch RedisError.server(let message) where message.hasPrefix("READONLY") {
            // The master we knew is a replica now: Sentinel failed over. Ask again.
            self.forgetMaster()
            return try self.runOnce(arguments)
        }
    }

    private func forgetMaster() {
        if let endpoint { master?.forget(endpoint) }
        self.close()
    }

    func close() {
        if let context { redisFree(context) }
        self.context = nil
    }

    private func connect() throws -> UnsafeMutablePointer<redisContext> {
        if let context, context.pointee.err == 0 { return context }
        self.close()
        let target = try master?.current() ?? RedisConfiguration.Endpoint(host: configuration.host, port: configuration.port)
        let fresh: UnsafeMutablePointer<redisContext>
        do {
            fresh = try Self.open(target, configuration: configuration)
        } catch {
            master?.forget(target)
            throw error
        }
        self.endpoint = target
        _ = redisSetTimeout(fresh, Self.timeval(milliseconds: configuration.commandTimeoutMilliseconds))
        _ = redisEnableKeepAlive(fresh)
        self.context = fresh
        if let password = configuration.password {
            _ = try self.execute(["AUTH", password], on: fresh)
        }
        if configuration.database != 0 {
            _ = try self.execute(["SELECT", String(configuration.database)], on: fresh)
        }
        return fresh
    }

    static func open(_ target: RedisConfiguration.Endpoint, configuration: RedisConfiguration) throws -> UnsafeMutablePointer<redisContext> {
        let timeout = Self.timeval(milliseconds: configuration.connectTimeoutMilliseconds)
        guard let fresh = redisConnectWithTimeout(target.host, Int32(target.port), timeout) else {
            throw RedisError.connection("cannot allocate a connection")
        }
        if fresh.pointee.err != 0 {
            let message = Self.errorString(fresh)
            redisFree(fresh)
            throw RedisError.connection("\(target): \(message)")
        }
        return fresh
    }

    /// Asks one Sentinel for the master's address.
    static func askSentinel(_ sentinel: RedisConfiguration.Endpoint, configuration: RedisConfiguration) throws -> RedisConfiguration.Endpoint? {
        let context = try open(sentinel, configuration: configuration)
        defer { redisFree(context) }
        _ = redisSetTimeout(context, timeval(milliseconds: configuration.connectTimeoutMilliseconds))
        let connection = RedisConnection(configuration: configuration)
        guard case .array(let parts) = try connection.execute(["SENTINEL", "get-master-addr-by-name", configuration.masterName], on: context),
            parts.count == 2, let host = parts[0].string, let port = parts[1].string.flatMap({ Int($0) })
        else { return nil }
        return RedisConfiguration.Endpoint(host: host, port: port)
    }

    private func runOnce(_ arguments: [String]) throws -> RedisValue {
        let context = try self.connect()
        return try self.execute(arguments, on: context)
    }

    private func execute(_ arguments: [String], on context: UnsafeMutablePointer<redisContext>) throws -> RedisValue {
        let buffers: [UnsafeMutablePointer<CChar>] = arguments.map { argument in
            let utf8 = Array(argument.utf8)
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count + 1)
            utf8.withUnsafeBufferPointer { source in
                source.withMemoryRebound(to: CChar.self) { chars in
                    if let base = chars.baseAddress { buffer.initialize(from: base, count: utf8.count) }
                }
            }
            buffer[utf8.count] = 0
            return buffer
        }
        defer { buffers.forEach { $0.deallocate() } }
        var argv: [UnsafePointer<CChar>?] = buffers.map { UnsafePointer($0) }
        let lengths: [Int] = arguments.map { $0.utf8.count }
        let raw = argv.withUnsafeMutableBufferPointer { argvBuffer in
            lengths.withUnsafeBufferPointer { lengthBuffer in
                redisCommandArgv(context, Int32(arguments.count), argvBuffer.baseAddress, lengthBuffer.baseAddress)
            }
        }
        guard let raw else {
            let message = Self.errorString(context)
            self.close()
            throw RedisError.connection(message)
        }
        let reply = raw.assumingMemoryBound(to: redisReply.self)
        defer { freeReplyObject(raw) }
        return try Self.decode(reply)
    }

    private static func decode(_ reply: UnsafeMutablePointer<redisReply>) throws -> RedisValue {
        let type = reply.pointee.type
        switch type {
        case REDIS_REPLY_STRING:
            return .string(text(reply))
        case REDIS_REPLY_STATUS:
            return .status(text(reply))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(reply.pointee.integer))
        case REDIS_REPLY_NIL:
            return .null
        case REDIS_REPLY_ERROR:
            throw RedisError.server(text(reply))
        case REDIS_REPLY_ARRAY:
            var values: [RedisValue] = []
            values.reserveCapacity(Int(reply.pointee.elements))
            for index in 0..<Int(reply.pointee.elements) {
                guard let element = reply.pointee.element[index] else {
                    values.append(.null)
                    continue
                }
                // A nested error reply (inside EXEC) is kept as text rather than thrown.
                if element.pointee.type == REDIS_REPLY_ERROR {
                    values.append(.status(text(element)))
                } else {
                    values.append(try decode(element))
                }
            }
            return .array(values)
        default:
            throw RedisError.server("unexpected reply type \(type)")
        }
    }

    private static func text(_ reply: UnsafeMutablePointer<redisReply>) -> String {
        guard let pointer = reply.pointee.str else { return "" }
        let buffer = UnsafeRawBufferPointer(start: pointer, count: Int(reply.pointee.len))
        return String(decoding: buffer, as: UTF8.self)
    }

    private static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.prefix { $0 != 0 }
            let message = String(decoding: bytes, as: UTF8.self)
            return message.isEmpty ? "error \(context.pointee.err)" : message
        }
    }

    private static func timeval(milliseconds: Int) -> Foundation.timeval {
        Foundation.timeval(tv_sec: milliseconds / 1000, tv_usec: .init((milliseconds % 1000) * 1000))
    }
}

/// The master the Sentinels name, asked once and shared by every connection until one of them
/// finds it gone (a broken connection, `-READONLY`). hiredis has no Sentinel support; this is the
/// client side of Sentinel's protocol: ask each Sentinel in turn, take the first answer.
final class MasterLocator: Sendable {
    private let configuration: RedisConfiguration
    private let known = Mutex<RedisConfiguration.Endpoint?>(nil)

    init(configuration: RedisConfiguration) {
        self.configuration = configuration
    }

    /// The master's address (blocking: called on the pool's threads).
    func current() throws -> RedisConfiguration.Endpoint {
        if let known = known.withLock({ $0 }) { return known }
        var problems: [String] = []
        for sentinel in configuration.sentinels {
            do {
                if let master = try RedisConnection.askSentinel(sentinel, configuration: configuration) {
                    known.withLock { $0 = master }
                    return master
                }
                problems.append("\(sentinel): no master named \(configuration.masterName)")
            } catch {
                problems.append("\(sentinel): \(error)")
            }
        }
        throw RedisError.connection("no Sentinel named a master: " + problems.joined(separator: "; "))
    }

    /// Forgets `endpoint` if it is still the one known (another connection may have asked already).
    func forget(_ endpoint: RedisConfiguration.Endpoint) {
        known.withLock { if $0 == endpoint { $0 = nil } }
    }
}
