import App
import Foundation
import Hummingbird
import HummingbirdTesting
import KassaTestSupport
import RedisClient
import Testing

@Suite("Operations: health, readiness, metrics, Redis restarts")
struct OperationsTests {
    @Test func healthAnswersWithoutDependencies() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let response = try await Browser(client).get("/health")
            #expect(response.status == .ok)
            #expect(response.body == #"{"status":"ok"}"#)
        }
    }

    @Test func readyWhenPostgresAndRedisAnswer() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let response = try await Browser(client).get("/ready")
            #expect(response.status == .ok)
            #expect(response.body.contains(#""postgresql":"ok""#))
            #expect(response.body.contains(#""redis":"ok""#))
        }
    }

    @Test func notReadyNamesRedisWhenItIsDown() async throws {
        var redis = TestServices.redis
        redis.port = try PrivateRedis.freePort()
        redis.connectTimeoutMilliseconds = 200
        let app = try await TestApp.make(redis: redis)
        try await app.run { client in
            let response = try await Browser(client).get("/ready")
            #expect(response.status == .serviceUnavailable)
            #expect(response.body.contains(#""redis":"down"#))
            #expect(response.body.contains(#""postgresql":"ok""#))
        }
    }

    @Test func notReadyNamesPostgresWhenItIsDown() async throws {
        var app = try await TestApp.make()
        app.configuration.database.port = try PrivateRedis.freePort()
        try await app.run { client in
            let response = try await Browser(client).get("/ready")
            #expect(response.status == .serviceUnavailable)
            #expect(response.body.contains(#""postgresql":"down"#))
            #expect(response.body.contains(#""redis":"ok""#))
        }
    }

    @Test func metricsCountRequestsByRouteAndStatus() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let browser = Browser(client)
            try await browser.get("/login")
            try await browser.get("/nowhere")
            let metrics = try await browser.get("/metrics")
            #expect(metrics.status == .ok)
            #expect(metrics.body.contains(#"kassa_http_requests_total{route="/login",method="GET",status="200"} 1"#))
            #expect(metrics.body.contains(#"status="404""#))
            #expect(metrics.body.contains("kassa_http_request_duration_seconds_bucket"))
        }
    }

    /// The series the alert rules and the Grafana dashboard name, after one paid checkout: the
    /// checkout's duration by outcome, payments by status, batch sizes by transition, the issuer's
    /// circuit, readiness and the process's memory and descriptors. No merchant id in any label.
    @Test func metricsNameTheCheckoutTheIssuersAndTheProcess() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            let link = try await merchant.createLink()
            #expect(try await Browser(client).pay(link.path).result.status == .seeOther)
            let metrics = try await client.execute(uri: "/metrics", method: .get)
            let text = String(buffer: metrics.body)
            for series in [
                #"kassa_checkout_duration_seconds_bucket{outcome="succeeded",le="+Inf"} 1"#, #"kassa_payments_total{status="succeeded"} 1"#,
                #"kassa_batch_size_count{transition="start"}"#, #"kassa_batch_size_count{transition="finish"}"#,
                #"kassa_issuer_circuit_open{issuer="iss_test_visa"} 0"#, "kassa_ready 1", #"kassa_dependency_up{dependency="redis"} 1"#,
                "process_resident_memory_bytes ", "process_open_fds ", "process_max_fds ", "kassa_memory_budget_bytes 1073741824",
            ] {
                #expect(text.contains(series), "\(series)")
            }
            let accountID = try #require(try await app.text("SELECT id FROM accounts LIMIT 1"))
            #expect(!text.contains(accountID))
        }
    }

    /// A server on the internet (https) serves /metrics only to whoever shows its token; a
    /// development server on loopback serves it to anyone who can reach it.
    @Test func metricsNeedTheirTokenOutsideDevelopment() async throws {
        let production = try await TestApp.make(baseURL: "https://pay.example")
        try await production.run { client in
            let response = try await client.execute(uri: "/metrics", method: .get)
            #expect(response.status == .notFound)
        }
        var guarded = try await TestApp.make(baseURL: "https://pay.example")
        guarded.configuration.metricsToken = "scrape-token-0123456789"
        try await guarded.run { client in
            #expect(try await client.execute(uri: "/metrics", method: .get).status == .unauthorized)
            let wrong = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer scrape-token-0123456780"])
            #expect(wrong.status == .unauthorized)
            let right = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer scrape-token-0123456789"])
            #expect(right.status == .ok)
            #expect(String(buffer: right.body).contains("kassa_http_requests_total"))
        }
    }

    @Test func requestsSucceedAfterRedisRestarts() async throws {
        let redisServer = try await PrivateRedis.start()
        var redis = TestServices.redis
        redis.port = redisServer.port
        let app = try await TestApp.make(redis: redis)
        let email = AccountsTests.uniqueEmail()
        try await app.run { client in
            let browser = Browser(client)
            try await browser.signUp(email: email)
            #expect(try await browser.get("/dashboard").status == .ok)

            // Restart Redis (its AOF keeps the session) while the server runs.
            try await redisServer.restart()

            // The pooled connections are now broken; the next requests reconnect and succeed.
            let dashboard = try await browser.get("/dashboard")
            #expect(dashboard.status == .ok)
            try await browser.post("/logout", [])
            #expect(try await browser.logIn(email: email).status == .seeOther)
            #expect(try await browser.get("/ready").status == .ok)
        }
        await redisServer.stop()
        try? FileManager.default.removeItem(atPath: redisServer.directory)
    }
}

/// A Redis server of the test's own, on a free port, for tests that stop or restart it.
/// Daemonized and stopped by pid, because Foundation's `Process.waitUntilExit` spins on Linux.
final class PrivateRedis: Sendable {
    let port: Int
    let directory: String
    var pidFile: String { directory + "/redis.pid" }

    private init(port: Int, directory: String) {
        self.port = port
        self.directory = directory
    }

    static func start() async throws -> PrivateRedis {
        let directory = NSTemporaryDirectory() + "kassa-redis-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let server = PrivateRedis(port: try freePort(), directory: directory)
        try await server.launch()
        return server
    }

    func launch() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "redis-server", "--bind", "127.0.0.1", "--port", String(port), "--dir", directory,
            "--appendonly", "yes", "--appendfsync", "always", "--save", "",
            "--daemonize", "yes", "--pidfile", pidFile, "--logfile", directory + "/redis.log",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<100 {
            if Self.isListening(port) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw RedisError.connection("private redis did not start on \(port)")
    }

    func stop() async {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return }
        // SIGKILL, not SIGTERM: the test runner's threads block SIGTERM, the daemonized server
        // inherited that mask, and a SIGTERM stayed pending for ever (the "restart" then found the
        // old server still listening and every run left one behind). Its AOF is fsynced on every
        // write, so a kill loses nothing, as in a crash.
        kill(pid, SIGKILL)
        for _ in 0..<100 {
            guard Self.isListening(port) else { return }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    func restart() async throws {
        await self.stop()
        try await self.launch()
    }

    static func isListening(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// A port nothing listens on right now (the kernel picks it).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw RedisError.connection("no free port") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
