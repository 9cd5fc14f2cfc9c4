import App
import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

@Suite("Live updates over Server-Sent Events")
struct LiveTests {
    @Test func theMerchantStreamAnnouncesPaymentsAsTheyHappen() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            let link = try await merchant.createLink()
            let cookie = try #require(merchant.cookieHeader)
            // The stream lasts 20 s however soon the payment ends: under a full parallel run a
            // checkout has taken more than the 7 s an 8 s stream once left it (CI, stop 28).
            let opened = ContinuousClock.now
            async let stream = client.execute(uri: "/events/stream?wait=20", method: .get, headers: [.cookie: cookie], body: nil)
            try await Task.sleep(for: .seconds(1))
            _ = try await Browser(client).pay(link.path)
            let paid = ContinuousClock.now - opened
            let response = try await stream
            #expect(response.headers[.contentType] == "text/event-stream")
            let text = String(buffer: response.body)
            #expect(text.contains("retry: 3000"))
            #expect(text.contains("event: change"))
            #expect(text.contains(#""type":"payment.succeeded""#), "the payment ended \(paid) after the 20 s stream opened")
            // Not signed in: no stream.
            #expect(try await Browser(client).get("/events/stream?wait=1").status == .seeOther)
        }
    }

    /// A graceful shutdown (SIGTERM after the drain, Ctrl-C) ends the open streams: the server
    /// stops its listener first and waits for the requests in flight, and a stream left to run
    /// would hold the process for the rest of its lifetime (it held a test server for minutes).
    /// The stream is opened by a client of its own, so nothing but the server can end it.
    @Test func anOpenStreamEndsWhenTheServerShutsDown() async throws {
        let app = try await TestApp.make()
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        // A client left running when the test fails would crash the whole run at its deinit.
        do {
            try await Self.streamAcrossShutdown(app, http)
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }

    static func streamAcrossShutdown(_ app: TestApp, _ http: HTTPClient) async throws {
        let held = Mutex<(stream: Task<String, any Error>, asked: ContinuousClock.Instant)?>(nil)
        try await app.run(live: true) { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            let cookie = try #require(merchant.cookieHeader)
            let port = try #require(client.port)
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/events/stream?wait=120")
            request.headers.add(name: "Cookie", value: cookie)
            let stream = Task {
                let response = try await http.execute(request, timeout: .seconds(180))
                #expect(response.status == .ok)
                return String(buffer: try await response.body.collect(upTo: 1 << 20))
            }
            try await Task.sleep(for: .seconds(2))
            held.withLock { $0 = (stream, ContinuousClock.now) }
        }
        let (stream, asked) = try #require(held.withLock { $0 })
        let stopped = ContinuousClock.now - asked
        #expect(stopped < .seconds(30), "the server took \(stopped) to stop with a stream of 120 s open")
        #expect(try await stream.value.hasPrefix("retry: 3000"))
    }

    @Test func aReceiptStreamsItsPaymentsStatus() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            let link = try await merchant.createLink()
            let (_, result) = try await Browser(client).pay(link.path)
            let receipt = try #require(result.location)
            let events = receipt.replacingOccurrences(of: "?sig=", with: "/events?sig=")
            let response = try await Browser(client).get(events)
            #expect(response.status == .ok)
            #expect(response.body.contains("event: status\ndata: succeeded"))
            #expect(try await Browser(client).get(String(events.dropLast(3)) + "AAA").status == .forbidden)
        }
    }

    /// Streams are capped per session (and per address): the third of a session allowed two is
    /// refused with 429, and once the first two end their places are free again.
    @Test func aSessionHoldsOnlySoManyStreams() async throws {
        var app = try await TestApp.make()
        app.configuration.liveStreamsPerSession = 2
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            let cookie = try #require(merchant.cookieHeader)
            async let first = client.execute(uri: "/events/stream?wait=6", method: .get, headers: [.cookie: cookie], body: nil)
            async let second = client.execute(uri: "/events/stream?wait=6", method: .get, headers: [.cookie: cookie], body: nil)
            try await Task.sleep(for: .seconds(2))
            let third = try await client.execute(uri: "/events/stream?wait=1", method: .get, headers: [.cookie: cookie], body: nil)
            #expect(third.status == .tooManyRequests)
            #expect(third.headers[.retryAfter] != nil)
            for response in try await [first, second] {
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).hasPrefix("retry: 3000"))
            }
            let again = try await client.execute(uri: "/events/stream?wait=1", method: .get, headers: [.cookie: cookie], body: nil)
            #expect(again.status == .ok)
        }
    }

    /// Payers' receipt streams count against their address, with any other stream from it.
    @Test func anAddressHoldsOnlySoManyStreams() async throws {
        var app = try await TestApp.make()
        app.configuration.liveStreamsPerAddress = 1
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            let link = try await merchant.createLink()
            let (_, result) = try await Browser(client).pay(link.path)
            let events = try #require(result.location).replacingOccurrences(of: "?sig=", with: "/events?sig=")
            let cookie = try #require(merchant.cookieHeader)
            async let open = client.execute(uri: "/events/stream?wait=3", method: .get, headers: [.cookie: cookie], body: nil)
            try await Task.sleep(for: .seconds(1))
            #expect(try await Browser(client).get(events).status == .tooManyRequests)
            #expect(try await open.status == .ok)
            #expect(try await Browser(client).get(events).status == .ok)
        }
    }
}
