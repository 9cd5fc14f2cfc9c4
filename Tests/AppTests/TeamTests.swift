import Foundation
import Hummingbird
import HummingbirdTesting
import KassaTestSupport
import Testing

@testable import App

@Suite("Teams: invitations, roles on every route, the last owner, the audit log")
struct TeamTests {
    static func inviteURL(in body: String) -> String? {
        Browser.attribute(in: body, after: #"id="invite-url" type="text" readonly value=""#)
    }

    /// The owner invites a viewer by link; the viewer joins once, reads but cannot refund or make
    /// keys (403 naming the role), and after being made a developer signs in again and can make
    /// keys. The last owner cannot demote themself or leave. Owners read it all in the audit log.
    @Test func inviteAViewerWhoCanReadButNotRefundOrMakeKeys() async throws {
        let app = try await TestApp.make()
        let ownerEmail = AccountsTests.uniqueEmail()
        let viewerEmail = AccountsTests.uniqueEmail()
        try await app.run { client in
            let owner = Browser(client)
            try await owner.signUp(email: ownerEmail)
            try await owner.acceptCards()
            let link = try await owner.createLink()
            _ = try await Browser(client).pay(link.path)
            let paymentID = try #require(try await app.text("SELECT id FROM payments LIMIT 1"))

            _ = try await owner.get("/settings/team")
            let bad = try await owner.post("/settings/team/invites", [("email", "not an email"), ("role", "viewer")])
            #expect(bad.status == .unprocessableContent)
            #expect(bad.body.contains(#"id="email-error""#))
            let noRole = try await owner.post("/settings/team/invites", [("email", viewerEmail), ("role", "emperor")])
            #expect(noRole.status == .unprocessableContent)
            #expect(noRole.body.contains(#"id="role-error""#))
            let taken = try await owner.post("/settings/team/invites", [("email", ownerEmail), ("role", "viewer")])
            #expect(taken.status == .unprocessableContent)
            let invited = try await owner.post("/settings/team/invites", [("email", viewerEmail), ("role", "viewer")])
            #expect(invited.status == .created)
            let url = try #require(Self.inviteURL(in: invited.body))
            let path = String(url.dropFirst("http://127.0.0.1:8080".count))
            #expect(path.hasPrefix("/invites/"))
            #expect(try await app.count("SELECT count(*) FROM invites WHERE token_hash = \(Team.digest(String(path.dropFirst(9))))") == 1)

            let viewer = Browser(client)
            let page = try await viewer.get(path)
            #expect(page.body.contains("You are invited as <strong>viewer</strong>"))
            let nameless = try await viewer.post(path, [("name", ""), ("password", Browser.password)])
            #expect(nameless.status == .unprocessableContent)
            #expect(nameless.body.contains(#"id="name-error""#))
            #expect(try await app.count("SELECT count(*) FROM invites WHERE accepted_at IS NOT NULL") == 0)
            let short = try await viewer.post(path, [("name", "Vera Viewer"), ("password", "short")])
            #expect(short.status == .unprocessableContent)
            #expect(short.body.contains(#"id="password-error""#))
            let joined = try await viewer.post(path, [("name", "Vera Viewer"), ("password", Browser.password)])
            #expect(joined.location == "/dashboard")
            #expect(try await Browser(client).get(path).status == .gone, "an invitation works once")

            // Reads, yes; refunds and keys, no.
            let readable = try await viewer.get("/payments/\(paymentID)")
            #expect(readable.status == .ok)
            #expect(!readable.body.contains("Refund…") && readable.body.contains("Refunds need the admin role"), "no refund offered")
            #expect(!(try await viewer.get("/developers/keys").body.contains("Create a key")), "no key offered")
            #expect(try await viewer.get("/developers/keys").status == .ok)
            let refund = try await viewer.post("/payments/\(paymentID)/refunds", [("amount", "1.00"), ("confirmed", "yes")])
            #expect(refund.status == .forbidden)
            #expect(refund.body.contains("This needs the admin role"))
            _ = try await viewer.get("/developers/keys")
            let key = try await viewer.post("/developers/keys", [("name", "Sneaky"), ("kind", "secret")])
            #expect(key.status == .forbidden)
            #expect(key.body.contains("This needs the developer role"))
            #expect(key.body.contains("Vera Viewer"), "the refusal is a page of the signed-in layout")
            #expect(try await viewer.get("/settings/audit").status == .forbidden)
            #expect(try await app.count("SELECT count(*) FROM refunds") == 0)
            #expect(try await app.count("SELECT count(*) FROM api_keys") == 0)

            // Made a developer: their session ends, and signed in again they can make keys.
            let team = try await owner.get("/settings/team")
            let viewerID = try #require(try await app.text("SELECT id FROM users WHERE email = \(viewerEmail)"))
            #expect(team.body.contains("/settings/team/members/\(viewerID)/role"))
            #expect(try await owner.post("/settings/team/members/\(viewerID)/role", [("role", "developer")]).location == "/settings/team")
            #expect(try await viewer.get("/dashboard").status == .seeOther)
            #expect(try await viewer.logIn(email: viewerEmail).location == "/dashboard")
            _ = try await viewer.get("/developers/keys")
            #expect(try await viewer.post("/developers/keys", [("name", "Backend"), ("kind", "secret")]).status == .created)
            _ = try await viewer.get("/links/new")
            #expect(try await viewer.post("/links", [("amount", "5.00"), ("currency", "EUR"), ("description", "x")]).status == .forbidden)

            // The last owner stays.
            let ownerID = try #require(try await app.text("SELECT id FROM users WHERE email = \(ownerEmail)"))
            _ = try await owner.get("/settings/team")
            let demote = try await owner.post("/settings/team/members/\(ownerID)/role", [("role", "admin")])
            #expect(demote.status == .conflict)
            #expect(demote.body.contains("needs an owner"))
            _ = try await owner.get("/settings/team")
            #expect(try await owner.post("/settings/team/leave", []).status == .conflict)
            #expect(try await app.count("SELECT count(*) FROM memberships WHERE role = 'owner'") == 1)

            // The audit log.
            let audit = try await owner.get("/settings/audit")
            #expect(audit.status == .ok)
            for action in ["account.signed_in", "team.invited", "team.joined", "team.role_changed", "api_key.created"] {
                #expect(audit.body.contains(action), "\(action)")
            }
        }
    }

    /// Someone who already signs in to Kassa (as the owner of another business) is invited: the
    /// link alone adds nothing — signed out it asks them to sign in, signed in as someone else it
    /// refuses — and signed in as the invited email one button joins. They then work in either
    /// business with its own role, switch between them, keep the one chosen at their next
    /// sign-in, and being removed from one ends only their sessions there. Their API token is for
    /// one business and stops working when they leave it; a viewer's token cannot change methods.
    @Test func aPersonInTwoBusinesses() async throws {
        let app = try await TestApp.make()
        let ownerEmail = AccountsTests.uniqueEmail()
        let otherEmail = AccountsTests.uniqueEmail()
        try await app.run { client in
            let owner = Browser(client)
            try await owner.signUp(name: "Okafor Coffee", email: ownerEmail)
            let other = Browser(client)
            try await other.signUp(name: "Baker Street Books", email: otherEmail)
            let booksID = try #require(try await app.text("SELECT account_id FROM users WHERE email = \(otherEmail)"))
            let coffeeID = try #require(try await app.text("SELECT account_id FROM users WHERE email = \(ownerEmail)"))

            _ = try await owner.get("/settings/team")
            let invited = try await owner.post("/settings/team/invites", [("email", otherEmail.uppercased()), ("role", "viewer")])
            #expect(invited.status == .created, "an email that signs in elsewhere may be invited")
            let path = String(try #require(Self.inviteURL(in: invited.body)).dropFirst("http://127.0.0.1:8080".count))
            let token = String(path.dropFirst("/invites/".count))

            // Signed out: sign in to join; no password is chosen here, and a post joins nobody.
            let stranger = Browser(client)
            let signedOut = try await stranger.get(path)
            #expect(signedOut.status == .ok)
            #expect(signedOut.body.contains("Sign in to join") && !signedOut.body.contains(#"name="password""#))
            #expect(signedOut.body.contains("/login?next=/invites/\(token)"))
            #expect(try await stranger.post(path, [("name", "Mallory"), ("password", Browser.password)]).status == .forbidden)
            // Signed in as someone else: refused, and it says whom the invitation is for.
            let wrong = try await owner.get(path)
            #expect(wrong.body.contains("You are signed in as \(ownerEmail)"))
            #expect(try await owner.post(path, []).status == .forbidden)
            #expect(try await app.count("SELECT count(*) FROM memberships WHERE account_id = \(coffeeID)") == 1)
            #expect(try await app.count("SELECT count(*) FROM invites WHERE accepted_at IS NOT NULL") == 0)

            // Signed in as the invited email: one button joins, once.
            let page = try await other.get(path)
            #expect(page.body.contains("Join Okafor Coffee</button>"))
            let joined = try await other.post(path, [])
            #expect(joined.location == "/dashboard")
            #expect(try await Browser(client).get(path).status == .gone, "an invitation works once")
            #expect(try await app.count("SELECT count(*) FROM users WHERE lower(email) = lower(\(otherEmail))") == 1, "one person")
            let inCoffee = try await other.get("/dashboard")
            #expect(inCoffee.body.contains(#"<span class="account-name">Okafor Coffee</span>"#))
            _ = try await other.get("/links/new")
            #expect(try await other.post("/links", [("amount", "5.00"), ("currency", "EUR"), ("description", "x")]).status == .forbidden)
            _ = try await owner.get("/settings/team")
            let again = try await owner.post("/settings/team/invites", [("email", otherEmail), ("role", "admin")])
            #expect(again.status == .unprocessableContent)
            #expect(Browser.fieldError(in: again.body, field: "email")?.contains("already in Okafor Coffee") == true)

            // The switcher: both businesses, each with its role; switching back makes them the owner again.
            let list = try await other.get("/businesses")
            #expect(list.body.contains("Baker Street Books") && list.body.contains("Okafor Coffee"))
            #expect(list.body.contains("Viewer") && list.body.contains("Owner"))
            let stray = try await other.post("/businesses/switch", [("account_id", "acct_000000000000000000000000")])
            #expect(stray.status == .notFound)
            #expect(stray.body.contains(#"<span class="account-name">Okafor Coffee</span>"#), "a signed-in error page keeps the signed-in header")
            let missing = try await other.get("/payments/pay_000000000000000000000000")
            #expect(missing.status == .notFound && missing.body.contains(#"<span class="account-name">Okafor Coffee</span>"#))
            #expect(try await other.get("/dashboard").body.contains(#"<span class="account-name">Okafor Coffee</span>"#), "still in place")
            _ = try await other.get("/businesses")
            #expect(try await other.post("/businesses/switch", [("account_id", booksID)]).location == "/dashboard")
            #expect(try await other.get("/dashboard").body.contains(#"<span class="account-name">Baker Street Books</span>"#))
            _ = try await other.get("/links/new")
            #expect(try await other.post("/links", [("amount", "5.00"), ("currency", "EUR"), ("description", "x")]).status != .forbidden)
            // The next sign-in opens the business chosen last; then choose Okafor Coffee again.
            try await other.logOut()
            #expect(try await other.logIn(email: otherEmail).location == "/dashboard")
            #expect(try await other.get("/dashboard").body.contains(#"<span class="account-name">Baker Street Books</span>"#))
            _ = try await other.get("/businesses")
            #expect(try await other.post("/businesses/switch", [("account_id", coffeeID)]).location == "/dashboard")

            // An API token is for the business a sign-in opens; a viewer's cannot change methods.
            let tokenAnswer = try await client.api(.post, "/v1/tokens", json: #"{"email":"\#(otherEmail)","password":"\#(Browser.password)"}"#)
            let apiToken = try #require(tokenAnswer.json["token"] as? String)
            let me = try await client.api(.get, "/v1/users/me", key: apiToken)
            #expect(me.json["account_id"] as? String == coffeeID)
            let change = try await client.api(
                .put, "/v1/users/me", key: apiToken, json: #"{"paymentMethods":[{"issuer":"iss_test_visa","currencies":["EUR"]}]}"#)
            #expect(change.status == .forbidden)
            #expect(change.code == "role_insufficient")
            #expect(try await app.count("SELECT count(*) FROM payment_methods WHERE account_id = \(coffeeID)") == 0)

            // Removed from Okafor Coffee: that session ends, the token stops, Baker Street Books stays theirs.
            let otherID = try #require(try await app.text("SELECT id FROM users WHERE email = \(otherEmail)"))
            let elsewhere = Browser(client)
            try await elsewhere.logIn(email: otherEmail)
            _ = try await elsewhere.get("/businesses")
            #expect(try await elsewhere.post("/businesses/switch", [("account_id", booksID)]).location == "/dashboard")
            _ = try await owner.get("/settings/team")
            #expect(try await owner.post("/settings/team/members/\(otherID)/remove", []).location == "/settings/team")
            #expect(try await other.get("/dashboard").status == .seeOther, "their session in Okafor Coffee ended")
            #expect(try await elsewhere.get("/dashboard").status == .ok, "their session in Baker Street Books goes on")
            #expect(try await client.api(.get, "/v1/users/me", key: apiToken).code == "token_invalid")
            _ = try await elsewhere.get("/businesses")
            #expect(try await elsewhere.post("/businesses/switch", [("account_id", coffeeID)]).status == .notFound)
            #expect(try await app.text("SELECT account_id FROM users WHERE id = \(otherID)") == booksID, "signs in to what is left")
            #expect(try await other.logIn(email: otherEmail).location == "/dashboard")
            #expect(try await other.get("/dashboard").body.contains(#"<span class="account-name">Baker Street Books</span>"#))

            // The invitation's token never reached the log.
            #expect(!app.logs.text.contains(token), "\(app.logs.text.split(separator: "\n").filter { $0.contains(token) }.prefix(3))")
            #expect(app.logs.text.contains("path=/invites/{token}"))
        }
    }

    /// Every merchant route that changes something has a rule that names its area; only the
    /// team and the business's settings fall to owners.
    @Test func everyChangingRouteHasItsRole() async throws {
        let app = try await TestApp.make()
        let (router, _) = try await buildRouter(configuration: app.configuration, logger: .init(label: "roles"))
        let changing = router.routes.filter { $0.method == .post }.map { $0.path.description }
        let merchantAreas = ["links", "forms", "payment-methods", "payments", "developers", "settings", "notifications", "businesses"]
        var checked = 0
        for path in changing where merchantAreas.contains(path.split(separator: "/").first.map(String.init) ?? "") {
            let role = RoleRules.required(method: .post, path: path)
            let area = String(path.split(separator: "/")[0])
            if role == .owner { #expect(area == "settings", "\(path) falls to owners") }
            checked += 1
        }
        #expect(checked > 20)
        #expect(RoleRules.required(method: .post, path: "/payments/pay_x/refunds") == .admin)
        #expect(RoleRules.required(method: .post, path: "/developers/keys") == .developer)
        #expect(RoleRules.required(method: .post, path: "/settings/team/leave") == .viewer)
        #expect(RoleRules.required(method: .post, path: "/settings/security/totp") == .viewer)
        #expect(RoleRules.required(method: .get, path: "/settings/audit") == .owner)
        #expect(RoleRules.required(method: .get, path: "/payments") == .viewer)
    }
}
