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
            async let stream = client.execute(uri: "/events/stream?wait=8", method: .get, headers: [.cookie: cookie], body: nil)
            try await Task.sleep(for: .seconds(1))
            _ = try await Browser(client).pay(link.path)
            let response = try await stream
            #expect(response.headers[.contentType] == "text/event-stream")
            let text = String(buffer: response.body)
            #expect(text.contains("retry: 3000"))
            #expect(text.contains("event: change"))
            #expect(text.contains(#""type":"payment.succeeded""#))
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
}
