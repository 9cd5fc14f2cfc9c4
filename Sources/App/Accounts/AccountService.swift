import Crypto
import Foundation
import PaymentCore

/// Signing up and logging in, for the HTML pages and the seed API alike: the rules of a new
/// account, the attempt budgets, and a credential check that takes as long for an unknown email
/// as for a wrong password. The presenters only read their input and show the outcome.
struct AccountService: Sendable {
    let accounts: AccountStore
    let hasher: PasswordHasher
    let policy: PasswordPolicy
    let limiter: RateLimiter
    let rateLimits: AppConfiguration.RateLimitSettings

    /// Too many attempts from this client or for this email; try again after `retryAfter` seconds.
    struct TooManyAttempts: Error {
        let retryAfter: Int

        /// What a form says next to its field: "Too many sign-in attempts. Wait 5 minutes, then try again."
        func message(for what: String) -> String {
            let minutes = (retryAfter + 59) / 60
            return "Too many \(what) in a short time. Wait \(minutes <= 1 ? "a minute" : "\(minutes) minutes"), then try again."
        }
    }

    /// The fields of a new account, named as the sign-up form and `POST /v1/users` name them.
    enum Field: String, CaseIterable {
        case name, business, email, password, username, date
    }

    /// Why a business name cannot be used, or nil (sign-up and settings).
    static func businessProblem(_ business: String) -> String? {
        if business.isEmpty { return "Enter the business name payers should see." }
        if business.length > 100 { return "Use at most 100 characters for the business name." }
        return nil
    }

    /// Every rule a new account breaks. `business` is optional (the API has none): the person's
    /// name stands in for it.
    func problems(
        name: String, business: String? = nil, email: String, password: String, username: String? = nil, date: String? = nil
    ) -> [FieldProblem] {
        var problems: [FieldProblem] = []
        if let username, !Self.isUsername(username) {
            problems.append(
                FieldProblem(
                    field: Field.username.rawValue, message: "Use 3 to 40 letters, digits, dots, dashes or underscores for the username.",
                    code: "username_invalid"))
        }
        if let date, Self.declaredDate(date) == nil {
            problems.append(
                FieldProblem(
                    field: Field.date.rawValue, message: "Give the date as ISO 8601, like 2026-11-21 or 2026-11-21T09:30:00Z.", code: "date_invalid"))
        }
        if let business, let problem = Self.businessProblem(business) {
            problems.append(FieldProblem(field: Field.business.rawValue, message: problem))
        }
        if name.isEmpty {
            problems.append(FieldProblem(field: Field.name.rawValue, message: "Enter your name or your business's name."))
        } else if name.length > 100 {
            problems.append(FieldProblem(field: Field.name.rawValue, message: "Use at most 100 characters for the name."))
        }
        if let problem = Self.emailProblem(email) {
            problems.append(FieldProblem(field: Field.email.rawValue, message: problem, code: "email_invalid"))
        }
        if let problem = policy.problem(with: password, email: email) {
            problems.append(FieldProblem(field: Field.password.rawValue, message: problem, code: "password_too_weak"))
        }
        return problems
    }

    /// Creates the account and its first user. Throws `TooManyAttempts`, `FieldProblems` (nothing
    /// written) or `AccountStore.StoreError.emailTaken`.
    func signUp(
        name given: String?, business rawBusiness: String? = nil, email rawEmail: String, password: String, client: String,
        username: String? = nil, date: String? = nil
    ) async throws
        -> AccountStore.User
    {
        let decision = try await limiter.hit("signup:ip:\(client)", rate: rateLimits.signupPerIP)
        guard decision.allowed else { throw TooManyAttempts(retryAfter: decision.resetSeconds) }
        let email = rawEmail.trimmingCharacters(in: .whitespaces)
        let name = given?.trimmingCharacters(in: .whitespaces) ?? username ?? Self.name(fromEmail: email)
        let business = rawBusiness.map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
        let problems = problems(name: name, business: business, email: email, password: password, username: username, date: date)
        guard problems.isEmpty else { throw FieldProblems(problems) }
        return try await accounts.createAccount(
            name: name, business: business ?? name, email: email, passwordHash: try await hasher.hash(password), username: username,
            declaredDate: date.flatMap(Self.declaredDate))
    }

    /// The user these credentials belong to, or nil. Throws `TooManyAttempts` when this client or
    /// this email has used its budget (counted whether or not the credentials hold). A sign-in that
    /// holds clears its email's count, so an owner's own sign-ins never lock the account; the
    /// client's count stays (else one account of their own would reset a guesser's budget).
    func logIn(email: String, password: String, client: String) async throws -> AccountStore.User? {
        guard let user = try await check(email: email, password: password, client: client) else { return nil }
        try await limiter.reset(Self.loginBucket(email: email))
        return user
    }

    /// Counts a request for a password link (per email and per client, with the sign-in budgets,
    /// so links cannot flood an inbox) or a new password chosen through one (per client: hashing
    /// it is the expensive part). Throws `TooManyAttempts`.
    func spendResetBudget(email: String?, client: String) async throws {
        let byClient = try await limiter.hit("reset:ip:\(client)", rate: rateLimits.loginPerIP)
        guard byClient.allowed else { throw TooManyAttempts(retryAfter: byClient.resetSeconds) }
        if let email {
            let byEmail = try await limiter.hit("reset:email:\(Self.digest(email.lowercased()))", rate: rateLimits.loginPerEmail)
            guard byEmail.allowed else { throw TooManyAttempts(retryAfter: byEmail.resetSeconds) }
        }
    }

    /// Counts one second-factor code for a person (the page's and the token API's, with the
    /// sign-in budget per email). Throws `TooManyAttempts`.
    func spendCodeBudget(userID: String) async throws {
        let byUser = try await limiter.hit("2fa:user:\(userID)", rate: rateLimits.loginPerEmail)
        guard byUser.allowed else { throw TooManyAttempts(retryAfter: byUser.resetSeconds) }
    }

    /// The email's login count: a digest, so Redis never holds the address.
    static func loginBucket(email: String) -> String { "login:email:\(digest(email.lowercased()))" }

    /// How long a client that failed a password for an email stays marked for it.
    static let failureMemorySeconds = 86_400

    /// The client's budget first, then the email's. A stranger guessing can spend the email's
    /// budget but must not lock its owner out: once it is spent, a client that has never failed
    /// a password for this email (its owner, on their usual device) still gets its password
    /// checked, and a right one signs in; a client that has failed for it waits. The owner is
    /// told the first time the budget runs out in a window.
    private func check(email: String, password: String, client: String) async throws -> AccountStore.User? {
        let byClient = try await limiter.hit("login:ip:\(client)", rate: rateLimits.loginPerIP)
        guard byClient.allowed else { throw TooManyAttempts(retryAfter: byClient.resetSeconds) }
        var paused: TooManyAttempts? = nil
        let failedHere = Self.failureMark(email: email, client: client)
        if !email.isEmpty {
            let byEmail = try await limiter.hit(Self.loginBucket(email: email), rate: rateLimits.loginPerEmail)
            if !byEmail.allowed {
                if byEmail.count == byEmail.limit + 1, let owner = try await accounts.user(email: email) {
                    try await accounts.noteSignInsPaused(owner, attempts: byEmail.limit, windowSeconds: rateLimits.loginPerEmail.windowSeconds)
                }
                let refusal = TooManyAttempts(retryAfter: byEmail.resetSeconds)
                guard try await !limiter.isMarked(failedHere) else { throw refusal }
                paused = refusal
            }
        }
        guard !email.isEmpty, !password.isEmpty else { return nil }
        let user = try await accounts.user(email: email)
        // Verify against a decoy when the email is unknown, so both failures take as long.
        let matches = try await hasher.verify(password, against: user?.passwordHash ?? PasswordHasher.decoy)
        guard matches, let user else {
            try await limiter.mark(failedHere, seconds: Self.failureMemorySeconds)
            // While the email is paused a wrong password reads as the pause, as it would have.
            if let paused { throw paused }
            return nil
        }
        return user
    }

    /// A client's failures for an email: both digested, so Redis holds neither.
    static func failureMark(email: String, client: String) -> String {
        "login:failed:\(digest(email.lowercased())):\(digest(client))"
    }

    /// Why an email address cannot be used, or nil. Also the rule of payers' emails and of form answers.
    static func emailProblem(_ email: String) -> String? {
        if email.isEmpty { return "Enter your email address." }
        if email.length > 254 { return "Use an email address of at most 254 characters." }
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."), !parts[1].hasSuffix("."),
            !email.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" || $0 == "," })
        else { return "Enter an email address like name@example.com." }
        return nil
    }

    /// The seed's username: 3 to 40 ASCII letters, digits, `.`, `_` or `-` (the database checks it too).
    static func isUsername(_ text: String) -> Bool { ASCIIToken.isValid(text, length: 3...40) }

    /// The date of an ISO 8601 date (`2026-11-21`) or date-time with a zone (`2026-11-21T09:30:00Z`,
    /// `…+01:00`, fractions allowed) as written, `YYYY-MM-DD`; nil when it is neither or no such day.
    static func declaredDate(_ text: String) -> String? {
        let day = String(text.prefix(10))
        let parts = day.split(separator: "-", omittingEmptySubsequences: false)
        guard day.utf8.count == 10, parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            day.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D }),
            let year = Int(parts[0]), let month = Int(parts[1]), let dayOfMonth = Int(parts[2]), year >= 1,
            (1...12).contains(month), (1...31).contains(dayOfMonth)
        else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let date = calendar.date(from: DateComponents(year: year, month: month, day: dayOfMonth)),
            calendar.component(.day, from: date) == dayOfMonth
        else { return nil }
        if text.utf8.count == 10 { return day }
        // The spec's pattern exactly, then a real time of day.
        guard text.wholeMatch(of: /[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})/) != nil
        else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = text.contains(".") ? [.withInternetDateTime, .withFractionalSeconds] : [.withInternetDateTime]
        return formatter.date(from: text.uppercased()) != nil ? day : nil
    }

    /// The email's local part as a name, whole characters only, within a name's 100 code points.
    static func name(fromEmail email: String) -> String {
        var name = ""
        for character in email.prefix(while: { $0 != "@" }) {
            guard name.length + String(character).length <= 100 else { break }
            name.append(character)
        }
        return name
    }

    /// A rate-limit bucket for an email that does not put the address itself in Redis.
    static func digest(_ text: String) -> String {
        Hex.string(SHA256.hash(data: Data(text.utf8)).prefix(16))
    }
}
