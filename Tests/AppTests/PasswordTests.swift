import Testing

@testable import App

@Suite("Passwords: argon2id hashing and the policy")
struct PasswordTests {
    @Test func hashCarriesItsParametersAndVerifies() async throws {
        let hasher = PasswordHasher()
        let hash = try await hasher.hash("correct horse battery staple")
        #expect(hash.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"))
        #expect(try await hasher.verify("correct horse battery staple", against: hash))
        #expect(try await !hasher.verify("correct horse battery stapl", against: hash))
        // Same password, new salt, different hash.
        #expect(try await hasher.hash("correct horse battery staple") != hash)
    }

    @Test func strongerParametersStillVerify() async throws {
        let strong = PasswordHasher(memoryKiB: 32768, iterations: 3)
        let hash = try await strong.hash("a longer passphrase here")
        #expect(hash.contains("m=32768,t=3,p=1"))
        #expect(try await PasswordHasher().verify("a longer passphrase here", against: hash))
    }

    @Test func decoyAndGarbageNeverVerify() async throws {
        let hasher = PasswordHasher()
        #expect(try await !hasher.verify("anything at all", against: PasswordHasher.decoy))
        #expect(try await !hasher.verify("anything at all", against: "$2b$10$bcrypt-is-not-accepted"))
        #expect(try await !hasher.verify("anything at all", against: "$argon2id$garbage"))
    }

    @Test func bundledListHasAtLeastTenThousandPasswords() throws {
        let policy = try PasswordPolicy.bundled()
        #expect(policy.common.count >= 10_000)
        #expect(policy.common.contains("password"))
    }

    @Test(arguments: [
        ("short", true),
        ("passwordpassword", true),
        ("qwertyuiop123", true),
        ("dragon!!!!2024", true),
        ("zzzzzzzzzzzzzzzz", true),
        ("ada@example.com", true),
        ("correct horse battery staple", false),
        ("Tr0ub4dor&3-plus-more", false),
    ])
    func policy(password: String, refused: Bool) throws {
        let policy = try PasswordPolicy.bundled()
        #expect((policy.problem(with: password, email: "ada@example.com") != nil) == refused)
    }
}

@Suite("Form parsing and small helpers")
struct FormAndHelperTests {
    @Test func urlEncodedFormsAreDecoded() {
        let form = FormData(urlEncoded: "name=Ada+Lovelace&email=ada%40example.com&empty=&flag&pw=%20spaced%20&c=1&c=2&bad=%zz")
        #expect(form["name"] == "Ada Lovelace")
        #expect(form["email"] == "ada@example.com")
        #expect(form["empty"] == "")
        #expect(form["flag"] == "")
        #expect(form["missing"] == nil)
        #expect(form["pw"] == "spaced")
        #expect(form.raw("pw") == " spaced ")
        #expect(form.all("c") == ["1", "2"])
        #expect(form["bad"] == "%zz")
    }

    @Test(arguments: [
        ("v=100%", "100%"), ("v=%4", "%4"), ("v=%4g1", "%4g1"), ("v=%C3%A9t%C3%A9", "été"), ("v=a%00b", "ab"),
        ("v=%e2%82%ac+5", "€ 5"), ("v=%E9", "\u{FFFD}"), ("v=a%2Bb%3Dc%26d", "a+b=c&d"), ("v=%%41", "%A"),
    ])
    func escapesDecodeByteByByte(body: String, expected: String) {
        #expect(FormData(urlEncoded: body).raw("v") == expected)
    }

    @Test(arguments: [
        ("/settings", "/settings"),
        ("/payments?status=failed", "/payments?status=failed"),
        ("//evil.example", "/dashboard"),
        ("/\\evil.example", "/dashboard"),
        ("https://evil.example", "/dashboard"),
        ("javascript:alert(1)", "/dashboard"),
        // What a browser strips or rewrites before it reads the URL.
        ("/\t/evil.example", "/dashboard"),
        ("/\n/evil.example", "/dashboard"),
        ("/\r/evil.example", "/dashboard"),
        ("\t//evil.example", "/dashboard"),
        (" //evil.example", "/dashboard"),
        ("/\u{0}/evil.example", "/dashboard"),
        ("/\u{7F}/evil.example", "/dashboard"),
        ("/\u{85}/evil.example", "/dashboard"),
        ("/\u{3000}/evil.example", "/dashboard"),
        ("/ /evil.example", "/dashboard"),
        ("/x\\evil.example", "/dashboard"),
        ("", "/dashboard"),
        ("/", "/"),
        ("/links/lnk_1?x=%2F%2Fevil.example#top", "/links/lnk_1?x=%2F%2Fevil.example#top"),
    ])
    func nextIsAlwaysLocal(next: String, expected: String) {
        #expect(AccountsController.safeNext(next) == expected)
    }

    @Test(arguments: [
        ("ada@example.com", true),
        ("Ada.Lovelace+kassa@example.co.uk", true),
        ("", false),
        ("ada", false),
        ("ada@", false),
        ("@example.com", false),
        ("ada@example", false),
        ("ada@@example.com", false),
        ("ada lovelace@example.com", false),
    ])
    func emailShape(email: String, valid: Bool) {
        #expect((AccountService.emailProblem(email) == nil) == valid)
    }
}
