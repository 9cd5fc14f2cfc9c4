import Foundation
import HummingbirdTesting
import KassaTestSupport
import PaymentCore
import PostgresNIO
import Testing

@testable import App

@Suite("A forgotten password: a link that works once, within 30 minutes")
struct PasswordResetTests {
    /// A link for `email`, as the forgot page or `kassa reset-password` issues it.
    static func issue(_ app: TestApp, email: String) async throws -> String? {
        var database = app.configuration.database
        database.maximumConnections = 1
        return try await DatabaseTools.withClient(database, logger: TestServices.logger) { client in
            try await PasswordResets(database: client, logger: TestServices.logger).issue(email: email)?.token
        }
    }

    static func resetPath(_ token: String) -> String { "/password/reset?token=" + token }

    @Test func theForgotPageAnswersAlikeForKnownAndUnknownAddresses() async throws {
        var configured = try await TestApp.make()
        // An SMTP server nobody answers: the page does not wait for the email (sent afterwards).
        configured.configuration.smtp = SMTPConfiguration(url: "smtp://127.0.0.1:9", from: "Kassa <kassa@example.com>")
        let app = configured
        let email = AccountsTests.uniqueEmail()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: email)
            let login = try await Browser(client).get("/login")
            #expect(login.body.contains(#"<a class="label-link" href="/password/forgot">Forgot password?</a>"#))

            let asker = Browser(client)
            let form = try await asker.get("/password/forgot")
            #expect(form.status == .ok && form.body.contains("Email me a link"))
            let known = try await asker.post("/password/forgot", [("email", email.uppercased())])
            let unknown = try await asker.post("/password/forgot", [("email", "nobody-\(UUID().uuidString.prefix(8))@example.com")])
            #expect(known.status == .ok && unknown.status == .ok)
            #expect(known.body.contains("Check your email.") && unknown.body.contains("Check your email."))
            #expect(known.body.contains("If an account uses \(Browser.escapeHTML(email.uppercased())), we have sent it a link"))
            // One link, for the known address only; stored as a SHA-256, valid for 30 minutes.
            #expect(try await app.count("SELECT count(*) FROM password_resets") == 1)
            #expect(
                try await app.count(
                    """
                    SELECT count(*) FROM password_resets r JOIN users u ON u.id = r.user_id
                    WHERE lower(u.email) = lower(\(email)) AND r.used_at IS NULL
                      AND r.expires_at BETWEEN now() + interval '29 minutes' AND now() + interval '30 minutes'
                    """) == 1)

            // Bad input: the field says why, nothing is issued.
            let bad = try await asker.post("/password/forgot", [("email", "not an email")])
            #expect(bad.status == .unprocessableContent)
            #expect(Browser.fieldError(in: bad.body, field: "email") == "Enter an email address like name@example.com.")
            let empty = try await asker.post("/password/forgot", [("email", "")])
            #expect(Browser.fieldError(in: empty.body, field: "email") == "Enter your email address.")
            #expect(try await app.count("SELECT count(*) FROM password_resets") == 1)
        }
    }

    @Test func withoutEmailThePageSaysHowAnOperatorHelps() async throws {
        let app = try await TestApp.make()
        let email = AccountsTests.uniqueEmail()
        try await app.run { client in
            try await Browser(client).signUp(email: email)
            let asker = Browser(client)
            let page = try await asker.get("/password/forgot")
            #expect(page.body.contains("This Kassa does not send email") && page.body.contains("kassa reset-password --email"))
            #expect(!page.body.contains("Email me a link"))
            _ = try await asker.post("/password/forgot", [("email", email)])
            #expect(try await app.count("SELECT count(*) FROM password_resets") == 0)
        }
    }

    @Test func aLinkSetsTheNewPasswordOnceAndEndsEverySession() async throws {
        let app = try await TestApp.make()
        let email = AccountsTests.uniqueEmail()
        let newPassword = "a brand new passphrase for kassa"
        try await app.run { client in
            let signedIn = Browser(client)
            try await signedIn.signUp(email: email)
            #expect(try await signedIn.get("/dashboard").status == .ok)
            let token = try #require(try await Self.issue(app, email: email))
            let older = try #require(try await Self.issue(app, email: email))

            let owner = Browser(client)
            let form = try await owner.get(Self.resetPath(token))
            #expect(form.status == .ok)
            #expect(form.body.contains("For \(Browser.escapeHTML(email))") && form.body.contains(#"name="token" value="\#(token)""#))

            // Bad input keeps the link usable.
            let weak = try await owner.post("/password/reset", [("token", token), ("new_password", "short"), ("confirm_password", "short")])
            #expect(weak.status == .unprocessableContent)
            #expect(Browser.fieldError(in: weak.body, field: "new_password")?.contains("at least") == true)
            let mismatch = try await owner.post(
                "/password/reset", [("token", token), ("new_password", newPassword), ("confirm_password", newPassword + "!")])
            #expect(mismatch.status == .unprocessableContent)
            #expect(Browser.fieldError(in: mismatch.body, field: "confirm_password") == "The two new passwords do not match.")

            let done = try await owner.post("/password/reset", [("token", token), ("new_password", newPassword), ("confirm_password", newPassword)])
            #expect(done.status == .seeOther && done.location == "/login")
            let login = try await owner.get("/login")
            #expect(login.body.contains("Your new password is set, and every session has ended."))

            // Every session ended, the old password is refused, the new one signs in.
            let after = try await signedIn.get("/dashboard")
            #expect(after.status == .seeOther && after.location?.hasPrefix("/login") == true)
            #expect(try await Browser(client).logIn(email: email).status == .unauthorized)
            #expect(try await Browser(client).logIn(email: email, password: newPassword).status == .seeOther)

            // The link, and every other link of the person, no longer works.
            for used in [token, older] {
                let again = try await Browser(client).get(Self.resetPath(used))
                #expect(again.status == .gone && again.body.contains("This link no longer works."))
                #expect(!again.body.contains(#"name="new_password""#))
            }
            let replay = try await owner.post(
                "/password/reset",
                [("token", token), ("new_password", "yet another passphrase here"), ("confirm_password", "yet another passphrase here")]
            )
            #expect(replay.status == .gone)
            #expect(try await Browser(client).logIn(email: email, password: newPassword).status == .seeOther)
        }
    }

    @Test func expiredAndMadeUpLinksAreRefused() async throws {
        let app = try await TestApp.make()
        let email = AccountsTests.uniqueEmail()
        try await app.run { client in
            try await Browser(client).signUp(email: email)
            let token = try #require(try await Self.issue(app, email: email))
            try await app.execute(
                "UPDATE password_resets SET created_at = now() - interval '31 minutes', expires_at = now() - interval '1 minute'")
            let browser = Browser(client)
            #expect(try await browser.get(Self.resetPath(token)).status == .gone)
            _ = try await browser.get("/login")
            let posted = try await browser.post(
                "/password/reset", [("token", token), ("new_password", "a brand new passphrase"), ("confirm_password", "a brand new passphrase")])
            #expect(posted.status == .gone)
            for madeUp in ["", "abc", String(repeating: "A", count: 43), String(token.dropLast()) + "%"] {
                #expect(try await browser.get(Self.resetPath(madeUp)).status == .gone, "\(madeUp)")
            }
            #expect(try await Browser(client).logIn(email: email).status == .seeOther)
            #expect(try await Self.issue(app, email: "nobody@example.com") == nil)
        }
    }

    @Test func theTokenIsNeitherStoredNorLogged() async throws {
        let app = try await TestApp.make()
        let email = AccountsTests.uniqueEmail()
        try await app.run { client in
            try await Browser(client).signUp(email: email)
            let token = try #require(try await Self.issue(app, email: email))
            let browser = Browser(client)
            _ = try await browser.get(Self.resetPath(token))
            _ = try await browser.post(
                "/password/reset", [("token", token), ("new_password", "a brand new passphrase"), ("confirm_password", "a brand new passphrase")])
            #expect(try await app.count("SELECT count(*) FROM password_resets WHERE token_hash = \(PasswordResets.digest(token))") == 1)
            #expect(try await app.count("SELECT count(*) FROM password_resets WHERE token_hash LIKE '%' || \(token) || '%'") == 0)
            #expect(!app.logs.text.contains(token))
            #expect(app.logs.text.contains("password reset"))
        }
    }
}
