import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import App

@Suite("Two-factor sign-in: TOTP and recovery codes")
struct TwoFactorTests {
    static func base32Decode(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var buffer: UInt32 = 0
        var bits = 0
        for character in text.uppercased() {
            guard let index = TwoFactor.base32Alphabet.firstIndex(of: character) else { continue }
            buffer = (buffer << 5) | UInt32(index)
            bits += 5
            if bits >= 8 {
                bytes.append(UInt8((buffer >> UInt32(bits - 8)) & 0xff))
                bits -= 8
            }
        }
        return bytes
    }

    /// RFC 6238's SHA-1 test vectors (their last six digits) and RFC 4648's base32.
    @Test(arguments: [(59, "287082"), (1_111_111_109, "081804"), (1_111_111_111, "050471"), (1_234_567_890, "005924"), (2_000_000_000, "279037")])
    func codesMatchTheRFC(time: Int, code: String) {
        let secret = Array("12345678901234567890".utf8)
        #expect(TwoFactor.code(secret: secret, step: Int64(time) / 30) == code)
        #expect(TwoFactor.base32(secret) == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
        #expect(Self.base32Decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ") == secret)
    }

    @Test func aCodeIsTakenOnlyNearNowAndAfterTheLastOne() {
        let secret = Array("12345678901234567890".utf8)
        let now = Date(timeIntervalSince1970: 1_111_111_111)
        let step = TwoFactor.step(at: now)
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = TwoFactor.code(secret: secret, step: step + Int64(offset))
            #expect((TwoFactor.matchingStep(code, secret: secret, at: now, after: 0) != nil) == accepted, "\(offset)")
        }
        let current = TwoFactor.code(secret: secret, step: step)
        #expect(TwoFactor.matchingStep(current, secret: secret, at: now, after: step) == nil, "used already")
        #expect(TwoFactor.matchingStep("12345", secret: secret, at: now, after: 0) == nil)
        #expect(TwoFactor.matchingStep("abcdef", secret: secret, at: now, after: 0) == nil)
    }

    /// Enrol on the security page (QR, secret as text, a first code, ten recovery codes once),
    /// then sign in: the password alone makes no session; a TOTP does, once; a recovery code does,
    /// once; the seed API asks for a code too; turning it off takes the password and a code.
    @Test func enrolSignInWithACodeOrARecoveryCodeAndTurnItOff() async throws {
        // More codes than one person types in five minutes: the budget is guessingCodesIsStopped's.
        let app = try await TestApp.make(rateLimits: .defaults { $0.loginPerEmail = .init(limit: 30, windowSeconds: 300) })
        let email = AccountsTests.uniqueEmail()
        try await app.run { client in
            let browser = Browser(client)
            try await browser.signUp(email: email)
            let off = try await browser.get("/settings/security")
            #expect(off.body.contains("Set up two-factor sign-in"))
            let enrolling = try await browser.post("/settings/security/totp", [])
            #expect(enrolling.status == .ok)
            let secretText = try #require(Browser.attribute(in: enrolling.body, after: #"data-totp-secret=""#))
            let secret = Self.base32Decode(secretText)
            #expect(secret.count == 20)
            #expect(enrolling.body.contains("<svg"))

            let blank = try await browser.post("/settings/security/totp/confirm", [("code", " ")])
            #expect(blank.status == .unprocessableContent)
            #expect(blank.body.contains(#"id="code-error""#))
            let wrong = try await browser.post("/settings/security/totp/confirm", [("code", "000000")])
            #expect(wrong.status == .unprocessableContent)
            #expect(wrong.body.contains(#"<p class="field-error" id="code-error">"#))
            #expect(try await app.count("SELECT count(*) FROM users WHERE totp_enabled_at IS NOT NULL") == 0)

            let step = TwoFactor.step(at: Date())
            let confirmed = try await browser.post("/settings/security/totp/confirm", [("code", TwoFactor.code(secret: secret, step: step))])
            #expect(confirmed.status == .ok)
            let codes = confirmed.body.components(separatedBy: "<li><code>").dropFirst().compactMap { $0.components(separatedBy: "</code>").first }
            #expect(codes.count == 10)
            #expect(try await app.count("SELECT count(*) FROM recovery_codes WHERE used_at IS NULL") == 10)
            #expect(try await browser.get("/settings/security").body.contains("recovery codes are left"))
            #expect(!(try await browser.get("/settings/security").body.contains(codes[0])), "shown once")
            try await browser.logOut()

            // The password alone: no session, a page asking for the code.
            let password = try await browser.logIn(email: email)
            #expect(password.location == "/login/verify")
            #expect(try await browser.get("/dashboard").status == .seeOther)
            #expect(try await browser.get("/login/verify").body.contains(#"name="code""#))
            let empty = try await browser.post("/login/verify", [("code", "")])
            #expect(empty.status == .unprocessableContent)
            #expect(empty.body.contains(#"id="code-error""#))
            // The code used to confirm is spent; the next step's is good, once.
            let replayed = try await browser.post("/login/verify", [("code", TwoFactor.code(secret: secret, step: step))])
            #expect(replayed.status == .unauthorized)
            let next = TwoFactor.code(secret: secret, step: step + 1)
            let signedIn = try await browser.post("/login/verify", [("code", next)])
            #expect(signedIn.location == "/dashboard")
            #expect(try await browser.get("/dashboard").status == .ok)
            try await browser.logOut()
            _ = try await browser.logIn(email: email)
            #expect(try await browser.post("/login/verify", [("code", next)]).status == .unauthorized, "never twice")

            // A recovery code, once.
            #expect(try await browser.post("/login/verify", [("code", codes[0].uppercased())]).location == "/dashboard")
            try await browser.logOut()
            _ = try await browser.logIn(email: email)
            #expect(try await browser.post("/login/verify", [("code", codes[0])]).status == .unauthorized)
            #expect(try await app.count("SELECT count(*) FROM recovery_codes WHERE used_at IS NULL") == 9)

            // The seed API.
            let bare = try await client.api(.post, "/v1/tokens", json: #"{"email":"\#(email)","password":"\#(Browser.password)"}"#)
            #expect(bare.status == .badRequest)
            #expect(bare.code == "code_required")
            let withCode = try await client.api(
                .post, "/v1/tokens", json: #"{"email":"\#(email)","password":"\#(Browser.password)","code":"\#(codes[1])"}"#)
            #expect(withCode.status == .ok)
            #expect(withCode.json["token"] is String)

            // Turning it off needs the password and a code.
            #expect(try await browser.post("/login/verify", [("code", codes[2])]).location == "/dashboard")
            _ = try await browser.get("/settings/security")
            let badOff = try await browser.post("/settings/security/totp/disable", [("password", "not my password"), ("code", codes[3])])
            #expect(badOff.status == .unprocessableContent)
            #expect(badOff.body.contains(#"id="password-error""#))
            let noCode = try await browser.post("/settings/security/totp/disable", [("password", Browser.password), ("code", "")])
            #expect(noCode.status == .unprocessableContent)
            #expect(noCode.body.contains(#"id="code-error""#))
            #expect(try await app.count("SELECT count(*) FROM users WHERE totp_enabled_at IS NOT NULL") == 1)
            let turnedOff = try await browser.post("/settings/security/totp/disable", [("password", Browser.password), ("code", codes[3])])
            #expect(turnedOff.location == "/settings/security")
            try await browser.logOut()
            #expect(try await browser.logIn(email: email).location == "/dashboard")
        }
    }

    /// Codes have their own budget: past it the code page answers 429 and takes nothing more.
    @Test func guessingCodesIsStopped() async throws {
        // Three codes: the first, confirming the app, spends one.
        let app = try await TestApp.make(rateLimits: .defaults { $0.loginPerEmail = .init(limit: 3, windowSeconds: 300) })
        let email = AccountsTests.uniqueEmail()
        try await app.run { client in
            let browser = Browser(client)
            try await browser.signUp(email: email)
            _ = try await browser.get("/settings/security")
            let enrolling = try await browser.post("/settings/security/totp", [])
            let secret = Self.base32Decode(try #require(Browser.attribute(in: enrolling.body, after: #"data-totp-secret=""#)))
            _ = try await browser.post(
                "/settings/security/totp/confirm", [("code", TwoFactor.code(secret: secret, step: TwoFactor.step(at: Date())))])
            try await browser.logOut()
            #expect(try await browser.logIn(email: email).location == "/login/verify")
            for _ in 0..<2 { #expect(try await browser.post("/login/verify", [("code", "123456")]).status == .unauthorized) }
            let stopped = try await browser.post("/login/verify", [("code", "654321")])
            #expect(stopped.status == .tooManyRequests)
            #expect(stopped.headers[.retryAfter] != nil)
            #expect(try await browser.get("/dashboard").status == .seeOther, "no session")
        }
    }

    /// Confirming the app's first code, and turning two-factor off (password and code), spend the
    /// same budget: a stolen session cannot guess either without end. A refusal changes nothing.
    @Test func confirmingAndTurningOffAreBudgeted() async throws {
        let app = try await TestApp.make(rateLimits: .defaults { $0.loginPerEmail = .init(limit: 3, windowSeconds: 300) })
        let email = AccountsTests.uniqueEmail()
        try await app.run { client in
            let browser = Browser(client)
            try await browser.signUp(email: email)
            _ = try await browser.get("/settings/security")
            let enrolling = try await browser.post("/settings/security/totp", [])
            let secret = Self.base32Decode(try #require(Browser.attribute(in: enrolling.body, after: #"data-totp-secret=""#)))
            for _ in 0..<3 {
                #expect(try await browser.post("/settings/security/totp/confirm", [("code", "000000")]).status == .unprocessableContent)
            }
            let right = TwoFactor.code(secret: secret, step: TwoFactor.step(at: Date()))
            let stopped = try await browser.post("/settings/security/totp/confirm", [("code", right)])
            #expect(stopped.status == .tooManyRequests)
            #expect(stopped.headers[.retryAfter] != nil)
            #expect(Browser.fieldError(in: stopped.body, field: "code")?.contains("Too many codes") == true)
            #expect(try await app.count("SELECT count(*) FROM users WHERE totp_enabled_at IS NOT NULL") == 0)

            // Another person turns it on (one code spent); guessing the password to turn it off is stopped too.
            let other = Browser(client)
            try await other.signUp(email: AccountsTests.uniqueEmail())
            _ = try await other.get("/settings/security")
            let theirs = Self.base32Decode(
                try #require(Browser.attribute(in: try await other.post("/settings/security/totp", []).body, after: #"data-totp-secret=""#)))
            let first = TwoFactor.code(secret: theirs, step: TwoFactor.step(at: Date()))
            #expect(try await other.post("/settings/security/totp/confirm", [("code", first)]).status == .ok)
            for _ in 0..<2 {
                let guess = try await other.post("/settings/security/totp/disable", [("password", "a guessed password"), ("code", "123456")])
                #expect(guess.status == .unprocessableContent)
            }
            let off = try await other.post("/settings/security/totp/disable", [("password", Browser.password), ("code", "123456")])
            #expect(off.status == .tooManyRequests)
            #expect(try await app.count("SELECT count(*) FROM users WHERE totp_enabled_at IS NOT NULL") == 1)
        }
    }
}
