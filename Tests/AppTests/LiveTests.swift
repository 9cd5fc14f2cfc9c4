import App
import Foundation
import Hummingbird
import HummingbirdTesting
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
