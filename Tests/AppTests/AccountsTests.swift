import App
import Foundation
import Hummingbird
import HummingbirdTesting
import KassaTestSupport
import PostgresNIO
import Testing

@Suite("Accounts: signup, login, logout, settings")
struct AccountsTests {
    static func uniqueEmail(_ tag: String = "m") -> String {
        "\(tag)-\(UUID().uuidString.prefix(8).lowercased())@example.com"
    }

    /// How many users the test database holds for this email, any case.
    static func userCount(_ app: TestApp, email: String) async throws -> Int {
        try await TestServices.withConnection(to: app.databaseName) { connection in
            let rows = try await connection.query("SELECT count(*) FROM users WHERE lower(email) = lower(\(email))", logger: TestServices.logger)
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    @Test func signupCreatesAccountAndSignsIn() async throws {
        // setup
        let app = try await TestApp.make()
        let email = Self.uniqueEmail()
        try await app.run { client in
            let browser = Browser(client)
            // MUT
            let response = try await browser.signUp(name: "Ada Lovelace", email: email)
            // validate
            #expect(response.status == .seeOther)
            #expect(response.location == "/dashboard")
            #expect(browser.cookies["kassa_session"] != nil)
            let dashboard = try await browser.get("/dashboard")
            #expect(dashboard.status == .ok)
            #expect(dashboard.body.contains("Welcome, Ada"))
            #expect(dashboard.body.contains("Your account is ready"))
            #expect(try await Self.userCount(app, email: email) == 1)
        }
    }

    @Test func aPersonAndTheirBusinessAreNamedApartAndTheBusinessNameCanChange() async throws {
        let app = try await TestApp.make()
        let email = Self.uniqueEmail()
        try await app.run { client in
            let browser = Browser(client)
            _ = try await browser.get("/signup")
            let long = String(repeating: "b", count: 101)
            let refused = try await browser.post(
                "/signup", [("name", "Mira Okafor"), ("business", long), ("email", email), ("password", Browser.password)])
            #expect(refused.status == .unprocessableContent)
            #expect(Browser.fieldError(in: refused.body, field: "business") == "Use at most 100 characters for the business name.")
            #expect(try await Self.userCount(app, email: email) == 0)
            let created = try await browser.post(
                "/signup", [("name", "Mira Okafor"), ("business", "Mira's Roastery"), ("email", email), ("password", Browser.password)])
            #expect(created.status == .seeOther)
            let dashboard = try await browser.get("/dashboard")
            #expect(dashboard.body.contains("Welcome, Mira</h1>") && dashboard.body.contains("Mira&#39;s Roastery"))

            // Settings: the business name changes for payers and in this browser's header at once.
            let settings = try await browser.get("/settings")
            #expect(settings.body.contains(#"value="Mira&#39;s Roastery""#))
            let empty = try await browser.post("/settings/business", [("business", "  ")])
            #expect(empty.status == .unprocessableContent)
            #expect(Browser.fieldError(in: empty.body, field: "business") == "Enter the business name payers should see.")
            let renamed = try await browser.post("/settings/business", [("business", "Okafor Coffee")])
            #expect(renamed.status == .seeOther && renamed.location == "/settings")
            let after = try await browser.get("/settings")
            #expect(after.body.contains("Business name saved.") && after.body.contains(#"<span class="account-name">Okafor Coffee</span>"#))
            #expect(
                try await app.count(
                    "SELECT count(*) FROM accounts a JOIN users u ON u.account_id = a.id WHERE a.name = 'Okafor Coffee' AND u.name = 'Mira Okafor'")
                    == 1)
        }
    }

    @Test func pagesShowTimesInTheAccountsTimeZoneAndExportsStayUTC() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: Self.uniqueEmail())
            try await merchant.acceptCards()
            let link = try await merchant.createLink()
            let (_, paid) = try await Browser(client).pay(link.path)
            let paymentID = try #require(paid.location?.split(separator: "/").last?.split(separator: "?").first)
            #expect(try await merchant.get("/payments/\(paymentID)").body.contains(" UTC</dd>"))

            _ = try await merchant.get("/settings")
            let refused = try await merchant.post("/settings/time-zone", [("time_zone", "Mars/Olympus_Mons")])
            #expect(refused.status == .unprocessableContent)
            #expect(Browser.fieldError(in: refused.body, field: "time_zone") == "Choose a time zone from the list.")
            let saved = try await merchant.post("/settings/time-zone", [("time_zone", "Asia/Tokyo")])
            #expect(saved.status == .seeOther)
            let settings = try await merchant.get("/settings")
            #expect(settings.body.contains("Time zone saved.") && settings.body.contains(#"<option value="Asia/Tokyo" selected>"#))
            // The merchant's pages: Tokyo time, named; the CSV export and the payer's receipt: UTC.
            let page = try await merchant.get("/payments/\(paymentID)")
            #expect(page.body.contains(" GMT+9</dd>") || page.body.contains(" JST</dd>"))
            #expect(!page.body.contains(" UTC</dd>"))
            let csv = try await merchant.get("/payments.csv")
            #expect(csv.body.contains("Z,") || csv.body.contains("Z\r\n") || csv.body.contains("Z\n"))
            let receipt = try await Browser(client).get(try #require(paid.location))
            #expect(receipt.body.contains(" UTC</dd>"))
        }
    }

    @Test func sessionCookieIsHttpOnlyAndLax() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let browser = Browser(client)
            let response = try await browser.signUp(email: Self.uniqueEmail())
            let cookie = try #require(Browser.setCookies(response).first { $0.hasPrefix("kassa_session=") })
            #expect(cookie.contains("HttpOnly"))
            #expect(cookie.contains("SameSite=Lax"))
            #expect(!cookie.contains("Secure"))
        }
    }

    @Test func sessionCookieIsSecureBehindHTTPS() async throws {
        let app = try await TestApp.make(baseURL: "https://pay.example.com")
        try await app.run { client in
            let browser = Browser(client)
            let response = try await browser.signUp(email: Self.uniqueEmail())
            let cookie = try #require(Browser.setCookies(response).first { $0.hasPrefix("kassa_session=") })
            #expect(cookie.contains("Secure"))
        }
    }

    @Test func loginRotatesTheSessionAndLogoutEndsIt() async throws {
        let app = try await TestApp.make()
        let email = Self.uniqueEmail()
        try await app.run { client in
            let browser = Browser(client)
            try await browser.signUp(email: email)
            let first = try #require(browser.cookies["kassa_session"])

            // A second login from the same browser gets a new id; the old one stops working.
            let login = try await browser.logIn(email: email)
            #expect(login.status == .seeOther)
            let second = try #require(browser.cookies["kassa_session"])
            #expect(first != second)
            let stale = Browser(client)
            stale.cookies["kassa_session"] = first
            #expect(try await stale.get("/dashboard").status == .seeOther)

            // Logout ends the session server-side too.
            try await browser.get("/dashboard")
            let logout = try await browser.logOut()
            #expect(logout.status == .seeOther)
            #expect(logout.location == "/login")
            let replay = Browser(client)
            replay.cookies["kassa_session"] = second
            let after = try await replay.get("/dashboard")
            #expect(after.status == .seeOther)
            #expect(after.location?.hasPrefix("/login") == true)
            let signedOut = try await browser.get("/login")
            #expect(signedOut.body.contains("You have signed out."))
        }
    }

    @Test func loginWithUnknownEmailOrWrongPasswordSaysTheSame() async throws {
        let app = try await TestApp.make()
        let email = Self.uniqueEmail()
        try await app.run { client in
            let browser = Browser(client)
            try await browser.signUp(email: email)
            try await browser.logOut()

            let wrongPassword = try await browser.logIn(email: email, password: "not the right password at all")
            let unknownEmail = try await browser.logIn(email: Self.uniqueEmail("nobody"))
            #expect(wrongPassword.status == .unauthorized)
            #expect(unknownEmail.status == .unauthorized)
            #expect(wrongPassword.body.contains("Email or password is incorrect."))
            #expect(unknownEmail.body.contains("Email or password is incorrect."))
            #expect(browser.cookies["kassa_session"] == nil)
        }
    }

    @Test func loginWithEmailInAnotherCaseWorks() async throws {
        let app = try await TestApp.make()
        let email = Self.uniqueEmail()
        try await app.run { client in
            let browser = Browser(client)
            try await browser.signUp(email: email)
            try await browser.logOut()
            let login = try await browser.logIn(email: email.uppercased())
            #expect(login.status == .seeOther)
            #expect(login.location == "/dashboard")
        }
    }

    @Test func loginReturnsToTheRequestedPageButNeverOffSite() async throws {
        let app = try await TestApp.make()
        let email = Self.uniqueEmail()
        try await app.run { client in
            let browser = Browser(client)
            try await browser.signUp(email: email)
            try await browser.logOut()

            let redirect = try await browser.get("/settings")
            #expect(redirect.status == .seeOther)
            #expect(redirect.location == "/login?next=/settings")
            try await browser.get("/login?next=/settings")
            let login = try await browser.post("/login", [("email", email), ("password", Browser.password), ("next", "/settings")])
            #expect(login.location == "/settings")

            try await browser.logOut()
            try await browser.get("/login")
            let evil = try await browser.post("/login", [("email", email), ("password", Browser.password), ("next", "//evil.example/")])
            #expect(evil.location == "/dashboard")

            // A tab a browser would drop turns /<tab>/host into //host: refused in the form and,
            // once signed in, in the query of /login.
            try await browser.logOut()
            try await browser.get("/login")
            let tabbed = try await browser.post("/login", [("email", email), ("password", Browser.password), ("next", "/\t/evil.example/")])
            #expect(tabbed.location == "/dashboard")
            for query in ["/%09/evil.example", "/%0A/evil.example", "%09//evil.example", "/%5Cevil.example", "https:evil.example"] {
                let signedIn = try await browser.get("/login?next=\(query)")
                #expect(signedIn.status == .seeOther)
                #expect(signedIn.location == "/dashboard", "next=\(query)")
            }
        }
    }

    @Test(arguments: ["/dashboard", "/settings", "/links/new", "/developers/keys", "/payments/pay_AAAAAAAAAAAAAAAAAAAAAAAA"])
    func pagesNeedingLoginRedirectToLogin(path: String) async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let response = try await Browser(client).get(path)
            #expect(response.status == .seeOther)
            #expect(response.location == "/login?next=\(path)")
        }
    }

    /// A form sent after the session ended (its CSRF token still good) goes to log in, and back to
    /// the area's first page rather than to an address that only takes POST.
    @Test(arguments: [("/links", "/links"), ("/links/plink_AAAAAAAAAAAAAAAAAAAAAAAA/revoke", "/links"), ("/developers/keys", "/developers/keys")])
    func aFormSentWithoutASessionGoesToLogInAndBackToItsArea(path: String, area: String) async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let browser = Browser(client)
            try await browser.get("/login")
            let response = try await browser.post(path, [("description", "x")])
            #expect(response.status == .seeOther)
            #expect(response.location == "/login?next=\(area)")
            #expect(try await app.count("SELECT count(*) FROM payment_links") == 0)
        }
    }

    @Test func duplicateEmailInAnotherCaseIsRefused() async throws {
        let app = try await TestApp.make()
        let email = Self.uniqueEmail()
        try await app.run { client in
            try await Browser(client).signUp(email: email)
            let second = Browser(client)
            let response = try await second.signUp(name: "Someone Else", email: email.uppercased())
            #expect(response.status == .unprocessableContent)
            #expect(response.body.contains("An account with this email already exists"))
            #expect(response.body.contains(#"id="email-error""#))
            // The typed values come back, the password does not.
            #expect(response.body.contains("Someone Else"))
            #expect(!response.body.contains(Browser.password))
            #expect(second.cookies["kassa_session"] == nil)
            #expect(try await Self.userCount(app, email: email) == 1)
        }
    }

    @Test(arguments: [
        ("short", "Use at least 12 characters."),
        ("password1234", "This password is too common."),
        ("iloveyou2024!", "This password is too common."),
        ("aaaaaaaaaaaaaaaa", "too easy to guess"),
    ])
    func weakPasswordIsRefusedNextToTheField(password: String, message: String) async throws {
        let app = try await TestApp.make()
        let email = Self.uniqueEmail()
        try await app.run { client in
            let browser = Browser(client)
            let response = try await browser.signUp(email: email, password: password)
            #expect(response.status == .unprocessableContent)
            #expect(response.body.contains(#"id="password-error""#))
            #expect(response.body.contains(message))
            #expect(browser.cookies["kassa_session"] == nil)
            let login = try await browser.logIn(email: email, password: password)
            #expect(login.status == .unauthorized)
        }
    }

    @Test(arguments: [
        ([("name", ""), ("email", "x@example.com"), ("password", Browser.password)], "name-error"),
        ([("name", "Shop"), ("email", "not-an-email"), ("password", Browser.password)], "email-error"),
        ([("name", "Shop"), ("email", ""), ("password", Browser.password)], "email-error"),
        ([("name", String(repeating: "n", count: 101)), ("email", "x@example.com"), ("password", Browser.password)], "name-error"),
    ])
    func badSignupInputIsShownNextToTheField(fields: [(String, String)], errorID: String) async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let browser = Browser(client)
            try await browser.get("/signup")
            let response = try await browser.post("/signup", fields)
            #expect(response.status == .unprocessableContent)
            #expect(response.body.contains("id=\"\(errorID)\""))
            #expect(response.body.contains("Please correct the following"))
            #expect(browser.cookies["kassa_session"] == nil)
        }
    }

    @Test func missingLoginFieldsAreShownNextToTheField() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let browser = Browser(client)
            try await browser.get("/login")
            let response = try await browser.post("/login", [("email", ""), ("password", "")])
            #expect(response.status == .unprocessableContent)
            #expect(response.body.contains(#"id="email-error""#))
            #expect(response.body.contains(#"id="password-error""#))
        }
    }

    @Test func passwordChangeEndsOtherSessions() async throws {
        let app = try await TestApp.make()
        let email = Self.uniqueEmail()
        let newPassword = "a brand new long passphrase"
        try await app.run { client in
            let laptop = Browser(client)
            try await laptop.signUp(email: email)
            let phone = Browser(client)
            try await phone.logIn(email: email)
            #expect(try await phone.get("/dashboard").status == .ok)

            try await laptop.get("/settings")
            let change = try await laptop.post(
                "/settings/password",
                [("current_password", Browser.password), ("new_password", newPassword), ("confirm_password", newPassword)]
            )
            #expect(change.status == .seeOther)
            #expect(change.location == "/settings")
            let settings = try await laptop.get("/settings")
            #expect(settings.status == .ok)
            #expect(settings.body.contains("Your password has been changed"))

            // The other device is signed out.
            #expect(try await phone.get("/dashboard").status == .seeOther)
            // The old password no longer works; the new one does.
            let fresh = Browser(client)
            #expect(try await fresh.logIn(email: email).status == .unauthorized)
            #expect(try await fresh.logIn(email: email, password: newPassword).status == .seeOther)
        }
    }

    @Test(arguments: [
        (
            [
                ("current_password", "wrong wrong wrong"), ("new_password", "another long passphrase"),
                ("confirm_password", "another long passphrase"),
            ], "current_password-error"
        ),
        ([("current_password", Browser.password), ("new_password", "short"), ("confirm_password", "short")], "new_password-error"),
        (
            [("current_password", Browser.password), ("new_password", "another long passphrase"), ("confirm_password", "typo long passphrase")],
            "confirm_password-error"
        ),
        ([("current_password", Browser.password), ("new_password", Browser.password), ("confirm_password", Browser.password)], "new_password-error"),
    ])
    func badPasswordChangeChangesNothing(fields: [(String, String)], errorID: String) async throws {
        let app = try await TestApp.make()
        let email = Self.uniqueEmail()
        try await app.run { client in
            let browser = Browser(client)
            try await browser.signUp(email: email)
            try await browser.get("/settings")
            let response = try await browser.post("/settings/password", fields)
            #expect(response.status == .unprocessableContent)
            #expect(response.body.contains("id=\"\(errorID)\""))
            #expect(try await browser.get("/dashboard").status == .ok)
            let other = Browser(client)
            #expect(try await other.logIn(email: email).status == .seeOther)
        }
    }
}
