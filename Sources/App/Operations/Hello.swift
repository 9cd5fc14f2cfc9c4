import Hummingbird

/// A bare Hummingbird server with one route: the ceiling `make bench` compares page renders with.
public func helloServer(port: Int) async throws {
    let router = Router()
    router.get("/hello") { _, _ in "hello" }
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "hello"))
    try await app.runService()
}
