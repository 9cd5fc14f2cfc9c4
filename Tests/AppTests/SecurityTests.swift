import Foundation
import Hummingbird
import HummingbirdTesting
import KassaTestSupport
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import App

@Suite("Security: CSRF, rate limits, headers, logs")
struct SecurityTests {
    @Test func postWithoutCSRFTokenIsRefusedAndChangesNothing() async throws {
        let app = try await TestApp.make()
        let email = AccountsTests.uniqueEmail()
        try await app.run { client in
            let browser = Browser(client)
            try await browser.get("/signup")
            let missing = try await browser.post("/signup", [("name", "Shop"), ("email", email), ("password", Browser.password)], csrf: "")
            #expect(missing.status == .forbidden)
            #expect(missing.body.contains("This form has expired"))
            let forged = try await browser.post(
                "/signup", [("name", "Shop"), ("email", email), ("password", Browser.password)], csrf: "forged-token")
            #expect(forged.status == .forbidden)
            #expect(try await AccountsTests.userCount(app, email: email) == 0)
        }
    }

    @Test func csrfTokenOfAnotherBrowserIsRefused() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let attacker = Browser(client)
            try await attacker.get("/signup")
            let victim = Browser(client)
            try await victim.signUp(email: AccountsTests.uniqueEmail())
            // The victim's browser posts with the attacker's token: refused, still signed in.
            let response = try await victim.post("/logout", [], csrf: attacker.csrf)
            #expect(response.status == .forbidden)
            #expect(try await victim.get("/dashboard").status == .ok)
        }
    }

    @Test func logoutNeedsCSRFToken() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let browser = Browser(client)
            try await browser.signUp(email: AccountsTests.uniqueEmail())
            #expect(try await browser.post("/logout", [], csrf: "").status == .forbidden)
            #expect(try await browser.get("/dashboard").status == .ok)
        }
    }

    @Test func loginIsRateLimitedPerEmail() async throws {
        let app = try await TestApp.make(
            rateLimits: .defaults {
                $0.loginPerIP = .init(limit: 100, windowSeconds: 60)
                $0.loginPerEmail = .init(limit: 3, windowSeconds: 60)
            })
        let email = AccountsTests.uniqueEmail()
        try await app.run { client in
            let browser = Browser(client)
            try await browser.signUp(email: email)
            try await browser.logOut()
            for _ in 0..<3 {
                #expect(try await browser.logIn(email: email, password: "wrong password here").status == .unauthorized)
            }
            let limited = try await browser.logIn(email: email)
            #expect(limited.status == .tooManyRequests)
            let retryAfter = try #require(limited.headers[.retryAfter].flatMap(Int.init))
            #expect(retryAfter > 0 && retryAfter <= 60)
            // Said inside the sign-in form, which keeps the email and offers a reset link.
            #expect(limited.body.contains("Too many sign-in attempts in a short time. Wait a minute, then try again."))
            #expect(limited.body.contains(#"action="/login""#) && limited.body.contains(#"value="\#(Browser.escapeHTML(email))""#))
            #expect(limited.body.contains(#"href="/password/forgot""#))
            // Another email from the same place is not affected.
            #expect(try await browser.logIn(email: AccountsTests.uniqueEmail()).status == .unauthorized)
        }
    }

    /// Issue 17: ten ordinary sign-ins in five minutes locked the owner out. A sign-in that holds
    /// clears its email's count; failures after it still count.
    @Test func anOwnersOwnSignInsNeverLockTheAccount() async throws {
        let app = try await TestApp.make(
            rateLimits: .defaults {
                $0.loginPerIP = .init(limit: 100, windowSeconds: 60)
                $0.loginPerEmail = .init(limit: 3, windowSeconds: 60)
            })
        let email = AccountsTests.uniqueEmail()
        try await app.run { client in
            let browser = Browser(client)
            try await browser.signUp(email: email)
            try await browser.logOut()
            for round in 0..<6 {
                #expect(try await browser.logIn(email: email, password: "wrong password here").status == .unauthorized, "\(round)")
                #expect(try await browser.logIn(email: email).status == .seeOther, "sign-in \(round)")
                try await browser.logOut()
            }
            for _ in 0..<3 { #expect(try await browser.logIn(email: email, password: "wrong password here").status == .unauthorized) }
            #expect(try await browser.logIn(email: email).status == .tooManyRequests, "three failures in a row still lock")
        }
    }

    @Test func loginIsRateLimitedPerIP() async throws {
        let app = try await TestApp.make(
            rateLimits: .defaults {
                $0.loginPerIP = .init(limit: 2, windowSeconds: 60)
                $0.loginPerEmail = .init(limit: 100, windowSeconds: 60)
            })
        try await app.run { client in
            let browser = Browser(client)
            #expect(try await browser.logIn(email: AccountsTests.uniqueEmail()).status == .unauthorized)
            #expect(try await browser.logIn(email: AccountsTests.uniqueEmail()).status == .unauthorized)
            let limited = try await browser.logIn(email: AccountsTests.uniqueEmail())
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers[.retryAfter] != nil)
        }
    }

    /// Slow clients: a connection that sends nothing, or sends its request's head a header every
    /// half second, is closed once the head clock (1 s here) runs out; a whole request on a fresh
    /// connection is still answered.
    @Test(arguments: [false, true])
    func aClientTooSlowWithItsHeadIsDisconnected(trickle: Bool) async throws {
        var app = try await TestApp.make()
        app.configuration.headerReadTimeout = .seconds(1)
        app.configuration.idleTimeout = .seconds(30)
        try await app.run(live: true) { client in
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
            let port = try #require(client.port)
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
            let started = ContinuousClock.now
            let closed = try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    try await channel.closeFuture.get()
                    return true
                }
                group.addTask {
                    if trickle {
                        try? await channel.writeAndFlush(ByteBuffer(string: "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")).get()
                        for index in 0..<12 {
                            try await Task.sleep(for: .milliseconds(500))
                            try? await channel.writeAndFlush(ByteBuffer(string: "X-Slow-\(index): 1\r\n")).get()
                        }
                    }
                    try await Task.sleep(for: .seconds(8))
                    return false
                }
                let first = try await group.next()!
                group.cancelAll()
                return first
            }
            #expect(closed, "the server kept the connection")
            #expect(ContinuousClock.now - started < .seconds(5))
            try? await channel.close()
        }
    }

    /// A body over its route's limit is the sender's mistake: 413 (a page, or the API's
    /// `body_too_large`), never 500, and nothing is made.
    @Test func bodiesOverTheLimitAre413() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let (merchant, key) = try await Browser.merchantWithKey(client)
            let link = try await merchant.createLink()
            let huge = String(repeating: "a", count: (1 << 20) + 10)
            let api = try await client.api(.post, "/v1/payment_links", key: key, json: #"{"description":""# + huge + #""}"#)
            #expect(api.status == .contentTooLarge)
            #expect(api.code == "body_too_large")
            let replayed = try await client.api(
                .post, "/v1/payment_links", key: key, json: #"{"description":""# + huge + #""}"#, idempotencyKey: "big")
            #expect(replayed.code == "body_too_large")
            for path in ["/login", "/signup", "/links", "/password/forgot"] {
                let page = try await client.execute(
                    uri: path, method: .post, headers: [.contentType: "application/x-www-form-urlencoded"], body: ByteBuffer(string: "x=" + huge))
                #expect(page.status == .contentTooLarge, "\(path)")
            }
            let checkout = try await client.execute(
                uri: link.path, method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: "x=" + String(repeating: "a", count: 70_000)))
            #expect(checkout.status == .contentTooLarge)
            #expect(String(buffer: checkout.body).contains("larger than we accept"))
            #expect(try await app.count("SELECT count(*) FROM payment_links") == 1)
            #expect(try await app.count("SELECT count(*) FROM payments") == 0)
        }
    }

    /// Card testing: the same card tried again and again. A decline counts twice on the card, so
    /// with a budget of 3 the card gets a first decline (2) and one more try (3 + 1), and the
    /// attempt after that is a 429 page that charges nothing; another card still pays.
    @Test func aCardDeclinedAgainAndAgainIsStopped() async throws {
        let app = try await TestApp.make(rateLimits: .defaults { $0.payerPerCard = .init(limit: 3, windowSeconds: 3600) })
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            let link = try await merchant.createLink(uses: 10)
            let declining = Browser.goodCard.map { $0.0 == "card_number" ? ($0.0, "4000 0000 0000 9995") : $0 }
            for round in 0..<2 {
                #expect(try await Browser(client).pay(link.path, card: declining).result.status == .paymentRequired, "\(round)")
            }
            let stopped = try await Browser(client).pay(link.path, card: declining).result
            #expect(stopped.status == .tooManyRequests)
            #expect(stopped.body.contains("Too many payment attempts"))
            #expect(stopped.body.contains("No money was taken."))
            #expect(Int(stopped.headers[.retryAfter] ?? "") ?? 0 > 0)
            #expect(try await app.count("SELECT count(*) FROM payments") == 2)
            #expect(try await Browser(client).pay(link.path).result.status == .seeOther, "another card")
        }
    }

    /// Card enumeration: many cards from one address, or many cards on one link from anywhere.
    @Test(arguments: [true, false])
    func manyCardsFromOneAddressOrOnOneLinkAreStopped(byAddress: Bool) async throws {
        let app = try await TestApp.make(
            rateLimits: .defaults {
                if byAddress { $0.payerPerIP = .init(limit: 3, windowSeconds: 600) } else { $0.payerPerSubject = .init(limit: 3, windowSeconds: 600) }
            })
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            let link = try await merchant.createLink(uses: 10)
            let cards = ["4242 4242 4242 4242", "4000 0566 5566 5556", "5555 5555 5555 4444", "5200 8282 8282 8210"]
            func card(_ number: String) -> [(String, String)] { Browser.goodCard.map { $0.0 == "card_number" ? ($0.0, number) : $0 } }
            for number in cards.prefix(3) {
                #expect(try await Browser(client).pay(link.path, card: card(number)).result.status == .seeOther, "\(number)")
            }
            let stopped = try await Browser(client).pay(link.path, card: card(cards[3])).result
            #expect(stopped.status == .tooManyRequests)
            #expect(try await app.count("SELECT count(*) FROM payments") == 3)

            // The budget per link is the link's: a form of the same merchant still takes payments
            // when only the link's is spent, and the embedded form is held to the same budgets.
            let form = try await FormsTests.createForm(merchant, overriding: [("field_label_1", "")])
            let embedded = try await FormsTests.payForm(client, form, fields: card(cards[3])).1
            #expect(embedded.status == (byAddress ? .tooManyRequests : .seeOther))
            #expect(try await app.count("SELECT count(*) FROM payments") == (byAddress ? 3 : 4))
        }
    }

    /// A stranger spending an email's budget does not lock its owner out: once the budget is
    /// spent, the stranger's address is refused even with the right password, and so is another
    /// that fails while it is spent, while the owner's address, which never failed, signs in. The
    /// owner is told once, in notifications.
    @Test func aStrangerCannotLockTheOwnerOut() async throws {
        var made = try await TestApp.make(
            rateLimits: .defaults {
                $0.loginPerIP = .init(limit: 100, windowSeconds: 60)
                $0.loginPerEmail = .init(limit: 3, windowSeconds: 60)
            })
        made.configuration.trustForwardedFor = true
        let app = made
        let email = AccountsTests.uniqueEmail()
        try await app.run { client in
            let owner = Browser(client)
            owner.forwardedFor = "203.0.113.10"
            try await owner.signUp(email: email)
            try await owner.logOut()

            let stranger = Browser(client)
            stranger.forwardedFor = "198.51.100.66"
            for _ in 0..<5 { _ = try await stranger.logIn(email: email, password: "guess guess guess") }
            #expect(try await stranger.logIn(email: email).status == .tooManyRequests, "the stranger's address waits")

            let colleague = Browser(client)
            colleague.forwardedFor = "203.0.113.11"
            #expect(try await colleague.logIn(email: email, password: "not it at all").status == .tooManyRequests)
            #expect(try await colleague.logIn(email: email).status == .tooManyRequests, "a failed address waits")

            #expect(try await owner.logIn(email: email).status == .seeOther, "the owner's address never failed")
            #expect(try await owner.get("/dashboard").status == .ok)
            try await owner.logOut()

            #expect(try await app.count("SELECT count(*) FROM notifications WHERE type = 'account.sign_in_paused'") == 1)
            let notices = try await owner.logIn(email: email)
            #expect(notices.status == .seeOther)
            #expect(try await owner.get("/notifications").body.contains("Sign-ins were paused after wrong passwords"))
        }
    }

    /// Behind a proxy you run, each client has its own budget; without the setting the header is
    /// ignored, so nobody picks their own budget by sending one.
    @Test(arguments: [true, false])
    func loginBudgetsFollowTheForwardedClientOnlyWhenTrusted(trusted: Bool) async throws {
        var made = try await TestApp.make(
            rateLimits: .defaults {
                $0.loginPerIP = .init(limit: 2, windowSeconds: 60)
                $0.loginPerEmail = .init(limit: 100, windowSeconds: 60)
            })
        made.configuration.trustForwardedFor = trusted
        let app = made
        let anotherClient: HTTPResponse.Status = trusted ? .unauthorized : .tooManyRequests
        try await app.run { (client: any TestClientProtocol) async throws in
            let first = Browser(client)
            // What the client wrote is on the left; the proxy appended the address it saw.
            first.forwardedFor = "198.51.100.99, 203.0.113.5"
            let second = Browser(client)
            second.forwardedFor = "198.51.100.99, 203.0.113.6"
            #expect(try await first.logIn(email: AccountsTests.uniqueEmail()).status == .unauthorized)
            #expect(try await first.logIn(email: AccountsTests.uniqueEmail()).status == .unauthorized)
            #expect(try await first.logIn(email: AccountsTests.uniqueEmail()).status == .tooManyRequests)
            // Same proxy, another client.
            #expect(try await second.logIn(email: AccountsTests.uniqueEmail()).status == anotherClient)
            // A client cannot pick its budget by writing the left of the header.
            let sly = Browser(client)
            sly.forwardedFor = "203.0.113.77, 203.0.113.5"
            #expect(try await sly.logIn(email: AccountsTests.uniqueEmail()).status == .tooManyRequests)
        }
    }

    @Test(
        arguments: [
            ("203.0.113.5", "203.0.113.5"), ("1.1.1.1, 203.0.113.5", "203.0.113.5"), ("203.0.113.5, not-an-ip", nil),
            ("[2001:db8::1]:443", "2001:db8::1"), ("2001:db8::2", "2001:db8::2"), ("203.0.113.9:8080", "203.0.113.9"), ("junk, ,", nil),
        ] as [(String, String?)])
    func theForwardedClientIsTheRightMostAddress(header: String, client: String?) {
        #expect(ClientAddressMiddleware.client(forwardedFor: header) == client)
    }

    @Test func signupIsRateLimitedPerIP() async throws {
        let app = try await TestApp.make(rateLimits: .defaults { $0.signupPerIP = .init(limit: 1, windowSeconds: 60) })
        let email = AccountsTests.uniqueEmail()
        try await app.run { client in
            try await Browser(client).signUp(email: AccountsTests.uniqueEmail())
            let second = try await Browser(client).signUp(email: email)
            #expect(second.status == .tooManyRequests)
            #expect(second.headers[.retryAfter] != nil)
            #expect(try await AccountsTests.userCount(app, email: email) == 0)
        }
    }

    @Test func pagesCarrySecurityHeaders() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let page = try await Browser(client).get("/login")
            let csp = try #require(page.headers[.contentSecurityPolicy])
            #expect(csp.contains("frame-ancestors 'none'"))
            #expect(csp.contains("script-src 'self'"))
            #expect(!csp.contains("unsafe-inline"))
            #expect(page.headers[.init("X-Content-Type-Options")!] == "nosniff")
            #expect(page.headers[.init("X-Frame-Options")!] == "DENY")
            #expect(page.headers[values: .init("Referrer-Policy")!] == ["same-origin"])
            #expect(page.headers[values: .init("Permissions-Policy")!].count == 1)
            #expect(page.headers[values: .init("Cross-Origin-Opener-Policy")!] == ["same-origin"])
            // No inline scripts anywhere, so the policy can forbid them.
            #expect(!page.body.contains("<script>"))
        }
    }

    @Test func requestIDIsEchoedOrMade() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let browser = Browser(client)
            let given = try await browser.get("/health", headers: [.init("X-Request-Id")!: "abc-123"])
            #expect(given.headers[.init("X-Request-Id")!] == "abc-123")
            let made = try await browser.get("/health", headers: [.init("X-Request-Id")!: "bad id\u{7f}"])
            #expect(made.headers[.init("X-Request-Id")!]?.hasPrefix("req_") == true)
        }
    }

    @Test func unknownPageIsASiteStyled404() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let page = try await Browser(client).get("/no/such/page")
            #expect(page.status == .notFound)
            #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(page.body.contains("Page not found"))
            #expect(page.body.contains("/css/kassa.css"))
        }
    }

    @Test func staticFilesAreServed() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let css = try await Browser(client).get("/css/kassa.css")
            #expect(css.status == .ok)
            #expect(css.headers[.contentType]?.hasPrefix("text/css") == true)
        }
    }

    @Test func noPasswordSessionIDOrCSRFTokenReachesTheLogs() async throws {
        let app = try await TestApp.make(logLevel: .trace)
        let email = AccountsTests.uniqueEmail()
        let newPassword = "a second very long passphrase"
        let captured = Mutex<[String]>([Browser.password, newPassword, "wrong password attempt"])
        try await app.run { client in
            let browser = Browser(client)
            try await browser.signUp(email: email)
            try await browser.logOut()
            try await browser.logIn(email: email, password: "wrong password attempt")
            try await browser.logIn(email: email)
            try await browser.get("/settings")
            try await browser.post(
                "/settings/password",
                [("current_password", Browser.password), ("new_password", newPassword), ("confirm_password", newPassword)]
            )
            try await browser.get("/settings")
            let session = try #require(browser.cookies["kassa_session"])
            let csrf = try #require(browser.csrf)
            captured.withLock { $0 += [session, csrf] }
        }
        let secrets = captured.withLock { $0 }
        let logs = app.logs.text
        #expect(logs.contains("request"))
        for secret in secrets {
            #expect(!logs.contains(secret), "a secret reached the logs")
        }
    }
}
