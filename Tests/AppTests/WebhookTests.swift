import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
import KassaTestSupport
import Logging
import PaymentCore
import PostgresNIO
import Synchronization
import Testing

@testable import App

/// A real HTTP receiver on a free port that records what arrives and answers with scripted statuses.
final class Receiver: Sendable {
    struct Hit: Sendable {
        let path: String
        let id: String
        let timestamp: String
        let signature: String
        let body: String
        let host: String
    }

    let hits = Mutex<[Hit]>([])
    /// Status codes to answer, in order; 200 once they run out.
    let script: Mutex<[Int]>

    init(failFirst: [Int] = []) {
        self.script = Mutex(failFirst)
    }

    /// Runs `body` with the receiver listening; passes its base URL.
    func run(_ body: @Sendable @escaping (String) async throws -> Void) async throws {
        let router = Router()
        router.post("/hook/:name") { request, context -> Response in
            var request = request
            let payload = try await request.collectBody(upTo: 1 << 20)
            self.hits.withLock {
                $0.append(
                    Hit(
                        path: request.uri.path, id: request.headers[.init("webhook-id")!] ?? "",
                        timestamp: request.headers[.init("webhook-timestamp")!] ?? "",
                        signature: request.headers[.init("webhook-signature")!] ?? "", body: String(buffer: payload),
                        host: request.head.authority ?? ""
                    )
                )
            }
            let status = self.script.withLock { $0.isEmpty ? 200 : $0.removeFirst() }
            return Response(status: .init(code: status), body: .init(byteBuffer: ByteBuffer(string: status == 200 ? "thanks" : "try later")))
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            try await body("http://127.0.0.1:\(client.port!)")
        }
    }
}

@Suite("Notifications and webhooks: consumers of the event log, signed deliveries, retries")
struct WebhookTests {
    /// The consumers and the sender as the server wires them, over the harness's database.
    static func workers(
        _ core: CoreHarness, allowPrivate: Bool = true, resolver: (@Sendable (String, Int) async -> [String])? = nil
    ) -> (EventConsumers, WebhookEndpoints) {
        var endpoints = WebhookEndpoints(
            database: core.client, sealingKey: WebhookEndpoints.sealingKey(secret: Array(repeating: 5, count: 32)),
            allowPrivateAddresses: allowPrivate,
            logger: core.logger
        )
        if let resolver { endpoints.resolver = resolver }
        let log = EventLog(database: core.client, logger: core.logger)
        return (EventConsumers(database: core.client, log: log, endpoints: endpoints, logger: core.logger), endpoints)
    }

    static func verify(_ hit: Receiver.Hit, secret: String) -> Bool {
        let expected = WebhookEndpoints.signature(id: hit.id, timestamp: Int64(hit.timestamp) ?? 0, body: hit.body, secrets: [secret])
        return hit.signature.split(separator: " ").contains { $0 == expected }
    }

    @Test func aPaymentBecomesANotificationAndOneSignedWebhook() async throws {
        try await CoreHarness.run { core in
            let receiver = Receiver()
            try await receiver.run { base in
                // setup
                let (workers, endpoints) = Self.workers(core)
                let account = try await core.merchant()
                let (endpoint, secret) = try await endpoints.create(accountID: account, url: base + "/hook/a", events: ["payment.succeeded"])
                let payment = try await core.payments().pay(core.checkout(try await core.link(account, amount: 2500)))

                // MUT: the consumers read the payment's three events; one is announced
                #expect(try await core.drain(.notifications) { try await workers.notifyPass() } == 3)
                #expect(try await core.drain(.webhooks) { try await workers.fanOutPass() } == 3)
                #expect(try await workers.deliverBatch() == 1)
                #expect(try await workers.notifyPass() == 0)
                #expect(try await workers.fanOutPass() == 0)

                // validate
                let hits = receiver.hits.withLock { $0 }
                #expect(hits.count == 1)
                let hit = try #require(hits.first)
                #expect(hit.id.hasPrefix("evt_"))
                #expect(Self.verify(hit, secret: secret))
                let json = try #require(try JSONSerialization.jsonObject(with: Data(hit.body.utf8)) as? [String: Any])
                #expect(json["type"] as? String == "payment.succeeded")
                #expect(((json["data"] as? [String: Any])?["object"] as? [String: Any])?["id"] as? String == payment.id.rawValue)
                #expect(
                    try await core.count("SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered' AND endpoint_id = \(endpoint.id)") == 1)
                #expect(try await core.count("SELECT count(*) FROM notifications WHERE title = 'Payment received: €25.00'") == 1)
            }
        }
    }

    /// A payment made through a link with a realm carries it in every webhook about it.
    @Test func webhooksCarryThePaymentsRealm() async throws {
        try await CoreHarness.run { core in
            let (workers, endpoints) = Self.workers(core)
            let account = try await core.merchant()
            _ = try await endpoints.create(accountID: account, url: "http://127.0.0.1:9/hook", events: ["payment.succeeded"])
            let link = try await core.payments().links.create(
                accountID: account, .init(amount: Money(minorUnits: 700, currency: .eur), description: "Mug", realm: "shop.example"))
            _ = try await core.payments().pay(core.checkout(link))
            #expect(try await core.drain(.webhooks) { try await workers.fanOutPass() } == 3)
            let payload = try #require(try await core.text("SELECT payload FROM webhook_deliveries WHERE event_type = 'payment.succeeded'"))
            let json = try #require(try JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any])
            #expect(((json["data"] as? [String: Any])?["object"] as? [String: Any])?["realm"] as? String == "shop.example")
        }
    }

    @Test func aTestEventIsSignedAndDeliveredLikeAnyOther() async throws {
        try await CoreHarness.run { core in
            let receiver = Receiver()
            try await receiver.run { base in
                let (workers, endpoints) = Self.workers(core)
                let account = try await core.merchant()
                let (endpoint, secret) = try await endpoints.create(accountID: account, url: base + "/hook/test", events: ["payment.succeeded"])
                #expect(try await workers.sendTest(accountID: account, endpointID: endpoint.id))
                #expect(try await workers.sendTest(accountID: try await core.merchant(), endpointID: endpoint.id) == false, "another merchant's")
                #expect(try await workers.deliverBatch() == 1)
                let hit = try #require(receiver.hits.withLock { $0 }.first)
                #expect(Self.verify(hit, secret: secret) && hit.id.hasPrefix("evt_test_"))
                let json = try #require(try JSONSerialization.jsonObject(with: Data(hit.body.utf8)) as? [String: Any])
                #expect(json["type"] as? String == "webhook.test")
                #expect(
                    try await core.count("SELECT count(*) FROM webhook_deliveries WHERE event_type = 'webhook.test' AND status = 'delivered'") == 1)
            }
        }
    }

    @Test func aReceiverThatFailsTwiceGetsTheEventAgainUntilItAccepts() async throws {
        try await CoreHarness.run { core in
            let receiver = Receiver(failFirst: [500, 503])
            try await receiver.run { base in
                let (workers, endpoints) = Self.workers(core)
                let account = try await core.merchant()
                _ = try await endpoints.create(accountID: account, url: base + "/hook/flaky", events: ["payment.succeeded", "payment.refunded"])
                _ = try await core.payments().pay(core.checkout(try await core.link(account)))
                try await core.drain(.webhooks) { try await workers.fanOutPass() }
                for attempt in 1...3 {
                    #expect(try await workers.deliverBatch() == 1, "attempt \(attempt)")
                    // The backoff would wait; the test moves the clock by making it due now.
                    try await core.client.query("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE status = 'pending'", logger: core.logger)
                }
                #expect(try await workers.deliverBatch() == 0, "delivered: nothing more to send")
                let hits = receiver.hits.withLock { $0 }
                #expect(hits.count == 3)
                #expect(Set(hits.map(\.id)).count == 1, "the same message id every time")
                #expect(try await core.count("SELECT attempts FROM webhook_deliveries WHERE status = 'delivered'") == 3)
                #expect(try await core.count("SELECT count(*) FROM webhook_attempts WHERE response_status = 200") == 1)
                #expect(try await core.count("SELECT count(*) FROM webhook_attempts WHERE response_status >= 500") == 2)
            }
        }
    }

    @Test func twoProcessesNeverDeliverTheSameAttempt() async throws {
        try await CoreHarness.run { core in
            let receiver = Receiver()
            try await receiver.run { base in
                let (first, endpoints) = Self.workers(core)
                let (second, _) = Self.workers(core)
                let account = try await core.merchant()
                _ = try await endpoints.create(accountID: account, url: base + "/hook/pair", events: ["payment.succeeded"])
                let link = try await core.link(account, maxUses: 30)
                for _ in 0..<30 { _ = try await core.payments().pay(core.checkout(link)) }
                try await core.drain(.webhooks) { try await first.fanOutPass(limit: 7) }
                #expect(try await core.count("SELECT count(*) FROM webhook_deliveries") == 30)

                try await withThrowingTaskGroup(of: Void.self) { group in
                    for workers in [first, second] {
                        group.addTask { while try await workers.deliverBatch(limit: 4) > 0 {} }
                    }
                    try await group.waitForAll()
                }
                let ids = receiver.hits.withLock { $0.map(\.id) }
                #expect(ids.count == 30)
                #expect(Set(ids).count == 30)
                #expect(try await core.count("SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered' AND attempts = 1") == 30)
            }
        }
    }

    @Test func anEndpointNeverReceivesAnotherMerchantsEvents() async throws {
        try await CoreHarness.run { core in
            let receiver = Receiver()
            try await receiver.run { base in
                let (workers, endpoints) = Self.workers(core)
                let alice = try await core.merchant()
                let bob = try await core.merchant()
                _ = try await endpoints.create(accountID: alice, url: base + "/hook/alice", events: ["payment.succeeded"])
                _ = try await endpoints.create(accountID: bob, url: base + "/hook/bob", events: ["payment.succeeded"])
                _ = try await core.payments().pay(core.checkout(try await core.link(alice)))
                try await core.drain(.webhooks) { try await workers.fanOutPass() }
                _ = try await workers.deliverBatch()
                #expect(receiver.hits.withLock { $0.map(\.path) } == ["/hook/alice"])
            }
        }
    }

    @Test func afterThreeDaysOfFailuresTheEndpointIsDisabledAndTheMerchantTold() async throws {
        try await CoreHarness.run { core in
            let receiver = Receiver(failFirst: [500])
            try await receiver.run { base in
                let (workers, endpoints) = Self.workers(core)
                let account = try await core.merchant()
                let (endpoint, _) = try await endpoints.create(accountID: account, url: base + "/hook/dead", events: ["payment.succeeded"])
                _ = try await core.payments().pay(core.checkout(try await core.link(account)))
                try await core.drain(.webhooks) { try await workers.fanOutPass() }
                try await core.client.query("UPDATE webhook_deliveries SET created_at = now() - interval '4 days'", logger: core.logger)
                _ = try await workers.deliverBatch()
                #expect(try await core.count("SELECT count(*) FROM webhook_deliveries WHERE status = 'failed'") == 1)
                #expect(try await endpoints.find(accountID: account, id: endpoint.id)?.status == "disabled")
                #expect(try await core.count("SELECT count(*) FROM notifications WHERE type = 'webhook_endpoint.disabled'") == 1)
            }
        }
    }

    @Test func endpointsOnPrivateAddressesAreRefused() async throws {
        try await CoreHarness.run { core in
            let (_, endpoints) = Self.workers(core, allowPrivate: false)
            for url in [
                "https://127.0.0.1/hook", "https://10.1.2.3/x", "https://169.254.169.254/latest/meta-data", "https://[::1]/x", "http://example.com/x",
                "https://[::ffff:127.0.0.1]/x", "https://[64:ff9b::a9fe:a9fe]/x", "https://[2002:7f00:1::]/x", "https://[fe80::1]/x",
                "https://0x7f.1/x", "https://2130706433/x", "https://192.0.0.8/x", "https://198.18.0.1/x", "ftp://x/y", "not a url",
            ] {
                #expect(await endpoints.problem(with: url) != nil, "\(url)")
            }
        }
    }

    /// Every special-purpose range, in both families and in the forms that smuggle an IPv4 address
    /// inside IPv6, is refused; public addresses of both families pass.
    @Test(arguments: [
        "192.168.1.1", "172.20.0.1", "100.64.0.1", "10.0.0.1", "127.0.0.2", "0.0.0.0", "169.254.169.254", "192.0.0.170", "192.0.2.1",
        "198.18.5.5", "198.19.255.255", "198.51.100.7", "203.0.113.9", "192.88.99.1", "224.0.0.1", "239.255.255.250", "240.0.0.1",
        "255.255.255.255", "::", "::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1", "::ffff:8.8.8.8", "::127.0.0.1", "64:ff9b::808:808",
        "64:ff9b:1::1", "2002:c0a8:101::1", "2001:0:4136:e378::1", "2001:db8::1", "3fff::1", "fc00::1", "fd12:3456::1", "fe80::1",
        "fe80::1%eth0", "fec0::1", "ff02::1", "100::1", "not an address", "",
    ])
    func privateAndReservedAddressesAreRefused(address: String) {
        #expect(!PublicAddress.isPublic(address))
    }

    @Test(arguments: [
        "93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "198.20.0.1", "2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450::1",
    ])
    func publicAddressesPass(address: String) {
        #expect(PublicAddress.isPublic(address))
    }

    /// A public IPv6 literal is a valid endpoint.
    @Test func aPublicIPv6LiteralIsAccepted() async throws {
        try await CoreHarness.run { core in
            let (_, endpoints) = Self.workers(core, allowPrivate: false)
            let target = try await endpoints.target(for: "https://[2606:4700:4700::1111]:8443/hook").get()
            #expect(target.address == "2606:4700:4700::1111")
            #expect(target.host == "2606:4700:4700::1111")
            #expect(target.port == 8443)
        }
    }

    /// DNS rebinding: the host is resolved once, for the check, and the delivery connects to the
    /// address checked, naming the URL's host. Here the name resolves only through the check's
    /// resolver (the system knows nothing of it), and answers the receiver's address the first
    /// time and a documentation address after: the delivery arrives, with the name as its Host,
    /// and each delivery asked once.
    @Test func aDeliveryConnectsToTheAddressItCheckedUnderTheURLsHost() async throws {
        try await CoreHarness.run { core in
            let receiver = Receiver()
            try await receiver.run { base in
                let port = Int(base.split(separator: ":").last!)!
                let asked = Mutex(0)
                let (workers, endpoints) = Self.workers(core) { host, _ in
                    guard host == "hooks.rebind.test" else { return [] }
                    return asked.withLock {
                        $0 += 1
                        return $0 % 2 == 1 ? ["127.0.0.1"] : ["203.0.113.5"]
                    }
                }
                let account = try await core.merchant()
                _ = try await endpoints.create(
                    accountID: account, url: "http://hooks.rebind.test:\(port)/hook/rebind", events: ["payment.succeeded"])
                asked.withLock { $0 = 0 }
                let link = try await core.link(account)
                _ = try await core.payments().pay(core.checkout(link))
                try await core.drain(.webhooks) { try await workers.fanOutPass() }
                #expect(try await workers.deliverBatch() == 1)
                let hits = receiver.hits.withLock { $0 }
                #expect(hits.count == 1)
                #expect(hits.first?.host == "hooks.rebind.test:\(port)")
                #expect(asked.withLock { $0 } == 1)
                #expect(try await core.count("SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'") == 1)
            }
        }
    }

    /// The delivery log shows what an HTTP server answered, and for anything short of an answer
    /// one sentence: a closed port and a silent one read the same.
    @Test func withoutAnHTTPAnswerTheLogSaysOnlyThat() async throws {
        try await CoreHarness.run { core in
            let (workers, endpoints) = Self.workers(core)
            let account = try await core.merchant()
            // Port 9 (discard) is closed here: the connection is refused at once.
            _ = try await endpoints.create(accountID: account, url: "http://127.0.0.1:9/hook", events: ["payment.succeeded"])
            let link = try await core.link(account)
            _ = try await core.payments().pay(core.checkout(link))
            try await core.drain(.webhooks) { try await workers.fanOutPass() }
            #expect(try await workers.deliverBatch() == 1)
            #expect(
                try await core.count("SELECT count(*) FROM webhook_attempts WHERE error = \(WebhookEndpoints.noAnswer) AND response_excerpt IS NULL")
                    == 1)
        }
    }

    @Test func secretsAreSealedAndRollingSignsWithBoth() async throws {
        try await CoreHarness.run { core in
            let (_, endpoints) = Self.workers(core)
            let account = try await core.merchant()
            let (endpoint, secret) = try await endpoints.create(accountID: account, url: "http://127.0.0.1:9/x", events: ["payment.failed"])
            #expect(secret.hasPrefix("whsec_"))
            #expect(
                try await core.count(
                    "SELECT count(*) FROM webhook_endpoints WHERE secret_sealed LIKE '%' || \(String(secret.dropFirst(6).prefix(10))) || '%'") == 0)
            let rolled = try #require(try await endpoints.roll(accountID: account, id: endpoint.id))
            #expect(try await endpoints.signingSecrets(accountID: account, id: endpoint.id) == [rolled, secret])
            let header = WebhookEndpoints.signature(id: "msg_1", timestamp: 1, body: "{}", secrets: [rolled, secret])
            #expect(header.split(separator: " ").count == 2)
            #expect(header.split(separator: " ").allSatisfy { $0.hasPrefix("v1,") })
        }
    }

    @Test func merchantsSeeNotificationsAndManageEndpointsInTheirPages() async throws {
        let app = try await TestApp.make()
        let email = AccountsTests.uniqueEmail()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: email)
            try await merchant.acceptCards()
            let link = try await merchant.createLink(amount: "9.50")
            _ = try await Browser(client).pay(link.path)
            try await TestServices.withConnection(to: app.databaseName) { connection in
                _ = try await connection.query(
                    """
                    INSERT INTO notifications (account_id, id, event_id, type, title, body)
                    SELECT account_id, 'ntf_AAAAAAAAAAAAAAAAAAAAAAAA', 'evt_x', 'payment.succeeded', 'Payment received: €9.50', 'Beans'
                    FROM users WHERE email = \(email)
                    """,
                    logger: TestServices.logger
                )
            }
            let dashboard = try await merchant.get("/dashboard")
            #expect(dashboard.body.contains(#"<span class="badge" aria-label="1 unread">1</span>"#))
            // The history counts it in its first page's own statement; a filtered page and a later one ask apart.
            for path in ["/payments", "/payments?status=failed", "/payments?after=pay_AAAAAAAAAAAAAAAAAAAAAAAA"] {
                #expect(try await merchant.get(path).body.contains(#"<span class="badge" aria-label="1 unread">1</span>"#), "\(path)")
            }
            // A form sent back with its errors keeps the badge too.
            _ = try await merchant.get("/links/new")
            let refused = try await merchant.post("/links", [("amount", "abc"), ("currency", "EUR"), ("description", "x")])
            #expect(refused.status == .unprocessableContent)
            #expect(refused.body.contains(#"<span class="badge" aria-label="1 unread">1</span>"#))
            let page = try await merchant.get("/notifications")
            #expect(page.body.contains("Payment received: €9.50"))
            // Opening it marks it read.
            #expect(page.body.contains(#"href="/notifications/ntf_AAAAAAAAAAAAAAAAAAAAAAAA/open""#) == false, "no link: it points nowhere")
            try await TestServices.withConnection(to: app.databaseName) { connection in
                _ = try await connection.query(
                    """
                    INSERT INTO notifications (account_id, id, event_id, type, title, body, link)
                    SELECT account_id, 'ntf_BBBBBBBBBBBBBBBBBBBBBBBB', 'evt_y', 'payment_link.expired', 'Payment link expired', 'Beans', '/links'
                    FROM users WHERE email = \(email)
                    """,
                    logger: TestServices.logger
                )
            }
            let listed = try await merchant.get("/notifications")
            #expect(listed.body.contains(#"<a href="/notifications/ntf_BBBBBBBBBBBBBBBBBBBBBBBB/open">Payment link expired</a>"#))
            let opened = try await merchant.get("/notifications/ntf_BBBBBBBBBBBBBBBBBBBBBBBB/open")
            #expect(opened.status == .seeOther && opened.location == "/links")
            #expect(try await app.count("SELECT count(*) FROM notifications WHERE id = 'ntf_BBBBBBBBBBBBBBBBBBBBBBBB' AND read_at IS NOT NULL") == 1)
            #expect(try await merchant.get("/notifications/ntf_NOSUCHNOSUCHNOSUCHNOSUCH/open").status == .notFound)
            #expect(try await merchant.post("/notifications/read", []).status == .seeOther)
            #expect(!(try await merchant.get("/dashboard").body.contains(#"class="badge""#)))
            #expect(!(try await merchant.get("/payments").body.contains(#"class="badge""#)))
            // Past the badge's limit the count stops: "99+", however many there are.
            try await TestServices.withConnection(to: app.databaseName) { connection in
                _ = try await connection.query(
                    """
                    INSERT INTO notifications (account_id, id, event_id, type, title, body)
                    SELECT account_id, 'ntf_' || lpad(g::text, 24, '0'), 'evt_' || g, 'payment.succeeded', 'Payment received', 'Beans'
                    FROM users, generate_series(1, 150) AS g WHERE email = \(email)
                    """,
                    logger: TestServices.logger
                )
            }
            #expect(try await merchant.get("/dashboard").body.contains(#"<span class="badge" aria-label="99+ unread">99+</span>"#))
            #expect(try await merchant.get("/payments").body.contains(#"<span class="badge" aria-label="99+ unread">99+</span>"#))
            #expect(try await merchant.post("/notifications/read", []).status == .seeOther)

            // webhooks page: a bad URL is explained; a good one shows its secret once
            _ = try await merchant.get("/developers/webhooks")
            let bad = try await merchant.post("/developers/webhooks", [("url", "ftp://nope"), ("events", "payment.succeeded")])
            #expect(bad.status == .unprocessableContent)
            #expect(bad.body.contains(#"id="url-error""#))
            let none = try await merchant.post("/developers/webhooks", [("url", "http://127.0.0.1:9/hook")])
            #expect(none.body.contains(#"id="events-error""#))
            let good = try await merchant.post("/developers/webhooks", [("url", "http://127.0.0.1:9/hook"), ("events", "payment.succeeded")])
            #expect(good.status == .created)
            #expect(good.body.contains(#"id="new-secret" type="text" readonly value="whsec_"#))
            #expect(!(try await merchant.get("/developers/webhooks").body.contains("whsec_")))
            // "Send a test event" queues one delivery for that endpoint; an unknown endpoint is not found.
            let endpointID = try #require(Browser.attribute(in: good.body, after: #"href="/developers/webhooks/"#))
            let tested = try await merchant.post("/developers/webhooks/\(endpointID)/test", [])
            #expect(tested.status == .seeOther)
            #expect(try await merchant.get("/developers/webhooks/\(endpointID)").body.contains("Test event sent."))
            #expect(try await app.count("SELECT count(*) FROM webhook_deliveries WHERE event_type = 'webhook.test'") == 1)
            #expect(try await merchant.post("/developers/webhooks/we_NOSUCHNOSUCHNOSUCHNOSUCH/test", []).status == .notFound)

            // and through the API
            let key = try await merchant.createAPIKey()
            let created = try await client.api(
                .post, "/v1/webhook_endpoints", key: key, json: #"{"url":"http://127.0.0.1:9/api","events":["payment.failed"]}"#)
            #expect(created.status == .created)
            #expect((created.json["secret"] as? String)?.hasPrefix("whsec_") == true)
            #expect(try await client.api(.get, "/v1/webhook_endpoints", key: key).data.count == 2)
            #expect(try await client.api(.get, "/v1/webhook_endpoints", key: key).data.allSatisfy { $0["secret"] == nil })
            #expect(
                try await client.api(
                    .post, "/v1/webhook_endpoints", key: key, json: #"{"url":"http://127.0.0.1:9/api","events":["payment.everything"]}"#
                ).param == "events")
            let id = try #require(created.json["id"] as? String)
            #expect(try await client.api(.delete, "/v1/webhook_endpoints/\(id)", key: key).json["deleted"] as? Bool == true)
        }
    }
}
