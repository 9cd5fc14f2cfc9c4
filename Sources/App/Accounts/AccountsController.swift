import Crypto
import Foundation
import Hummingbird
import Logging
import Mustache
import PaymentCore

/// Signup, login, logout and the account settings page.
struct AccountsController: Sendable {
    let service: AccountService
    let sessions: SessionStore
    let renderer: Renderer
    let secureCookies: Bool
    let twoFactor: TwoFactor
    let audit: AuditLog
    var emailEnabled: Bool = false
    /// Told when a business is renamed, so payer pages stop showing the old name at once.
    var forgetBusinessName: @Sendable (AccountID) -> Void = { _ in }

    var accounts: AccountStore { service.accounts }
    var limiter: RateLimiter { service.limiter }
    var hasher: PasswordHasher { service.hasher }
    var policy: PasswordPolicy { service.policy }
    var rateLimits: AppConfiguration.RateLimitSettings { service.rateLimits }

    /// What a person may choose to be emailed about.
    static let emailEventChoices: [(String, String)] = [
        ("payment.succeeded", "A payment succeeds"), ("payment.failed", "A payment fails"), ("payment.refunded", "A refund is issued"),
        ("payment_link.expired", "A payment link expires"), ("settlement.paid", "A day's settlement is paid out"),
        ("webhook_endpoint.disabled", "A webhook endpoint is disabled"),
    ]

    func addRoutes(to router: RouterGroup<AppRequestContext>) {
        router.get("/signup", use: self.showSignup)
        router.post("/signup", use: self.signup)
        router.get("/login", use: self.showLogin)
        router.post("/login", use: self.login)
        router.get("/login/verify", use: self.showVerify)
        router.post("/login/verify", use: self.verify)
        router.post("/logout", use: self.logout)
    }

    func addMerchantRoutes(to router: RouterGroup<MerchantContext>) {
        router.get("/settings", use: self.showSettings)
        router.post("/settings/password", use: self.changePassword)
        router.post("/settings/business", use: self.renameBusiness)
        router.post("/settings/time-zone", use: self.changeTimeZone)
        router.post("/settings/notifications", use: self.changeEmailEvents)
    }

    // MARK: signup

    struct SignupView: Sendable {
        let form: [String: String]
        let errors: [String: String]
        let summary: FormState.Summary?
        let minimumLength: Int
    }

    static let signupFields = ["name", "business", "email", "password"]

    func showSignup(_ request: Request, context: AppRequestContext) async throws -> Response {
        if context.session != nil { return Self.redirect("/dashboard") }
        return self.renderSignup(FormState(), context: context, status: .ok)
    }

    func signup(_ request: Request, context: AppRequestContext) async throws -> Response {
        let form = context.form
        let name = form["name"] ?? ""
        let business = form["business"] ?? ""
        let email = form["email"] ?? ""
        let password = form.raw("password") ?? ""
        var state = FormState(values: ["name": name, "business": business, "email": email])

        let user: AccountStore.User
        do {
            user = try await service.signUp(
                name: name, business: business, email: email, password: password, client: context.remoteAddress)
        } catch let refused as AccountService.TooManyAttempts {
            throw PageError.tooManyAttempts(retryAfter: refused.retryAfter)
        } catch let refused as FieldProblems {
            for problem in refused.problems { state.errors[problem.field] = problem.message }
            return self.renderSignup(state, context: context, status: .unprocessableContent)
        } catch AccountStore.StoreError.emailTaken {
            state.errors["email"] = "An account with this email already exists. Sign in instead, or use another email."
            return self.renderSignup(state, context: context, status: .unprocessableContent)
        }
        context.logger.info("account created", metadata: ["account_id": .string(user.accountID.rawValue), "user_id": .string(user.id)])
        return try await self.startSession(for: user, replacing: context.session, redirectTo: "/dashboard", flash: .welcome)
    }

    private func renderSignup(_ state: FormState, context: AppRequestContext, status: HTTPResponse.Status) -> Response {
        renderer.page(
            "accounts/signup",
            title: "Create your Kassa account",
            SignupView(
                form: state.values, errors: state.errors, summary: state.summary(order: Self.signupFields),
                minimumLength: PasswordPolicy.minimumLength
            ),
            context: context,
            status: status,
            bodyClass: "narrow"
        )
    }

    // MARK: login

    struct LoginView: Sendable {
        let form: [String: String]
        let errors: [String: String]
        let summary: FormState.Summary?
        let failure: String?
        let next: String
    }

    func showLogin(_ request: Request, context: AppRequestContext) async throws -> Response {
        let next = Self.safeNext(request.uri.queryParameters["next"].map(String.init))
        if context.session != nil { return Self.redirect(next) }
        return self.renderLogin(FormState(), failure: nil, next: next, context: context, status: .ok)
    }

    func login(_ request: Request, context: AppRequestContext) async throws -> Response {
        let form = context.form
        let email = form["email"] ?? ""
        let password = form.raw("password") ?? ""
        let next = Self.safeNext(form["next"])
        var state = FormState(values: ["email": email])

        let user: AccountStore.User?
        do {
            user = try await service.logIn(email: email, password: password, client: context.remoteAddress)
        } catch let refused as AccountService.TooManyAttempts {
            // Said inside the form, which keeps the email and offers the way out (a reset link).
            var response = self.renderLogin(
                state, failure: refused.message(for: "sign-in attempts"), next: next, context: context, status: .tooManyRequests)
            response.headers[.retryAfter] = String(refused.retryAfter)
            return response
        }
        if email.isEmpty { state.errors["email"] = "Enter your email address." }
        if password.isEmpty { state.errors["password"] = "Enter your password." }
        guard !state.hasErrors else {
            return self.renderLogin(state, failure: nil, next: next, context: context, status: .unprocessableContent)
        }
        guard let user else {
            context.logger.notice("login failed")
            return self.renderLogin(
                state, failure: "Email or password is incorrect.", next: next, context: context, status: .unauthorized
            )
        }
        if user.twoFactor {
            // The password was right; the session waits for the second factor.
            let token = try await twoFactor.beginSignIn(userID: user.id, next: next)
            context.logger.info("password accepted; second factor asked", metadata: ["user_id": .string(user.id)])
            var response = Self.redirect("/login/verify")
            response.setCookie(self.cookie(Self.twoFactorCookie, token, maxAge: 300))
            return response
        }
        context.logger.info("signed in", metadata: ["user_id": .string(user.id)])
        await audit.record(user, "account.signed_in", detail: "password", client: context.remoteAddress)
        return try await self.startSession(for: user, replacing: context.session, redirectTo: next, flash: nil)
    }

    // MARK: the second factor

    static let twoFactorCookie = "kassa_2fa"

    struct VerifyView: Sendable {
        let errors: [String: String]
        let summary: FormState.Summary?
        let failure: String?
    }

    func showVerify(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard try await twoFactor.pendingSignIn(request.cookies[Self.twoFactorCookie]?.value) != nil else { return Self.redirect("/login") }
        return renderVerify(FormState(), failure: nil, context: context, status: .ok)
    }

    /// The code after the password: a TOTP from the app or a recovery code, each accepted once,
    /// within the email's sign-in budget. Only now is the session made.
    func verify(_ request: Request, context: AppRequestContext) async throws -> Response {
        let token = request.cookies[Self.twoFactorCookie]?.value ?? ""
        guard let pending = try await twoFactor.pendingSignIn(token), let user = try await accounts.user(id: pending.userID) else {
            return Self.redirect("/login")
        }
        let code = (context.form["code"] ?? "").trimmingCharacters(in: .whitespaces)
        var state = FormState()
        do {
            try await service.spendCodeBudget(userID: user.id)
        } catch let refused as AccountService.TooManyAttempts {
            var response = renderVerify(state, failure: refused.message(for: "codes"), context: context, status: .tooManyRequests)
            response.headers[.retryAfter] = String(refused.retryAfter)
            return response
        }
        guard !code.isEmpty else {
            state.errors["code"] = "Enter the 6-digit code from your authenticator app, or a recovery code."
            return renderVerify(state, failure: nil, context: context, status: .unprocessableContent)
        }
        guard try await twoFactor.verify(userID: user.id, code: code) else {
            context.logger.notice("second factor refused", metadata: ["user_id": .string(user.id)])
            state.errors["code"] = "That code is not right, or was used already. Codes change every 30 seconds."
            return renderVerify(state, failure: nil, context: context, status: .unauthorized)
        }
        try await twoFactor.endSignIn(token)
        context.logger.info("signed in", metadata: ["user_id": .string(user.id), "second_factor": "yes"])
        await audit.record(user, "account.signed_in", detail: "password and second factor", client: context.remoteAddress)
        var response = try await self.startSession(for: user, replacing: context.session, redirectTo: pending.next, flash: nil)
        response.setCookie(self.cookie(Self.twoFactorCookie, "", maxAge: 0))
        return response
    }

    private func renderVerify(_ state: FormState, failure: String?, context: AppRequestContext, status: HTTPResponse.Status) -> Response {
        renderer.page(
            "accounts/verify", title: "Two-factor sign-in",
            VerifyView(errors: state.errors, summary: state.summary(order: ["code"]), failure: failure),
            context: context, status: status, bodyClass: "narrow")
    }

    private func renderLogin(_ state: FormState, failure: String?, next: String, context: AppRequestContext, status: HTTPResponse.Status) -> Response
    {
        renderer.page(
            "accounts/login",
            title: "Sign in to Kassa",
            LoginView(
                form: state.values, errors: state.errors, summary: state.summary(order: ["email", "password"]),
                failure: failure, next: next
            ),
            context: context,
            status: status,
            bodyClass: "narrow"
        )
    }

    /// A fresh session id at every sign-in (the old one, if any, is ended), so a
    /// session id planted before login is worthless after it.
    private func startSession(for user: AccountStore.User, replacing old: Session?, redirectTo path: String, flash: Flash?) async throws -> Response {
        if let old { try await sessions.destroy(old) }
        let session = try await sessions.create(for: user)
        // An operator lands on the console (or a page of it they asked for); no merchant page is theirs.
        var response = Self.redirect(user.isOperator && !path.hasPrefix("/ops") ? "/ops" : path)
        response.setCookie(self.cookie(SessionMiddleware.sessionCookie, session.id, maxAge: nil))
        response.setCookie(self.cookie(SessionMiddleware.preSessionCookie, "", maxAge: 0))
        if let flash { response.setCookie(self.cookie(SessionMiddleware.flashCookie, flash.rawValue, maxAge: 60)) }
        return response
    }

    // MARK: logout

    func logout(_ request: Request, context: AppRequestContext) async throws -> Response {
        if let session = context.session { try await sessions.destroy(session) }
        var response = Self.redirect("/login")
        response.setCookie(self.cookie(SessionMiddleware.sessionCookie, "", maxAge: 0))
        response.setCookie(self.cookie(SessionMiddleware.flashCookie, Flash.signedOut.rawValue, maxAge: 60))
        return response
    }

    // MARK: settings

    struct SettingsView: Sendable {
        let name: String
        let email: String
        let accountName: String
        let accountID: AccountID
        /// The business name as typed (after a refused rename) or as stored.
        let business: String
        let timeZones: [ZoneOption]
        let errors: [String: String]
        let summary: FormState.Summary?
        let minimumLength: Int
        let emailEvents: [EmailChoice]
        let emailEnabled: Bool
    }

    struct ZoneOption: Sendable {
        let value: String
        let selected: Bool
    }

    typealias EmailChoice = CheckOption

    func changeEmailEvents(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let chosen = context.form.all("email_events").filter { value in Self.emailEventChoices.contains { $0.0 == value } }
        try await accounts.setEmailEvents(userID: session.userID, accountID: session.accountID, events: chosen)
        return .redirect(to: "/settings", flash: .emailSettingsSaved, secureCookies: secureCookies)
    }

    static let passwordFields = ["current_password", "new_password", "confirm_password"]

    /// The zones a business may choose, UTC first then by name: read from the system once, not on
    /// every view of the settings (asking Foundation for them and sorting was most of that page's CPU).
    static let timeZones = ["UTC"] + TimeZone.knownTimeZoneIdentifiers.filter { $0 != "UTC" && $0 != "GMT" }.sorted()
    static let timeZoneNames = Set(timeZones)

    func showSettings(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        return try await self.renderSettings(session, FormState(), context: context, status: .ok)
    }

    /// The business name payers see. This browser's session carries the new name at once; other
    /// signed-in devices show it in their header from their next sign-in.
    func renameBusiness(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let business = (context.form["business"] ?? "").trimmingCharacters(in: .whitespaces)
        if let problem = AccountService.businessProblem(business) {
            var state = FormState(values: ["business": business])
            state.errors["business"] = problem
            return try await self.renderSettings(session, state, context: context, status: .unprocessableContent)
        }
        try await accounts.renameAccount(session.accountID, to: business)
        forgetBusinessName(session.accountID)
        context.logger.info("business renamed", metadata: ["account_id": .string(session.accountID.rawValue)])
        guard let user = try await accounts.user(id: session.userID, in: session.accountID) else { return Self.redirect("/login") }
        return try await self.startSession(for: user, replacing: session, redirectTo: "/settings", flash: .businessRenamed)
    }

    /// The zone the account's pages show times in; exports, the API and payers' pages stay UTC.
    func changeTimeZone(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let name = context.form["time_zone"] ?? ""
        guard Self.timeZoneNames.contains(name) else {
            var state = FormState(values: ["time_zone": name])
            state.errors["time_zone"] = "Choose a time zone from the list."
            return try await self.renderSettings(session, state, context: context, status: .unprocessableContent)
        }
        try await accounts.setTimeZone(session.accountID, to: name)
        guard let user = try await accounts.user(id: session.userID, in: session.accountID) else { return Self.redirect("/login") }
        return try await self.startSession(for: user, replacing: session, redirectTo: "/settings", flash: .timeZoneSaved)
    }

    func changePassword(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let form = context.form
        let current = form.raw("current_password") ?? ""
        let new = form.raw("new_password") ?? ""
        let confirmation = form.raw("confirm_password") ?? ""
        var state = FormState()

        let decision = try await limiter.hit("password:user:\(session.userID)", rate: rateLimits.loginPerEmail)
        guard decision.allowed else { throw PageError.tooManyAttempts(retryAfter: decision.resetSeconds) }

        guard let user = try await accounts.user(id: session.userID, in: session.accountID) else {
            try await sessions.destroy(session)
            return Self.redirect("/login")
        }
        if current.isEmpty {
            state.errors["current_password"] = "Enter your current password."
        } else if try await !hasher.verify(current, against: user.passwordHash) {
            state.errors["current_password"] = "This is not your current password."
        }
        if let problem = policy.problem(with: new, email: user.email) {
            state.errors["new_password"] = problem
        } else if new == current {
            state.errors["new_password"] = "Choose a password different from the current one."
        }
        if confirmation != new, state.errors["new_password"] == nil {
            state.errors["confirm_password"] = "The two new passwords do not match."
        }
        guard !state.hasErrors else { return try await self.renderSettings(session, state, context: context, status: .unprocessableContent) }

        try await accounts.updatePassword(userID: user.id, passwordHash: try await hasher.hash(new))
        try await sessions.destroyAll(userID: user.id, except: session)
        context.logger.info("password changed", metadata: ["user_id": .string(user.id)])
        var response = Self.redirect("/settings")
        response.setCookie(self.cookie(SessionMiddleware.flashCookie, Flash.passwordChanged.rawValue, maxAge: 60))
        return response
    }

    private func renderSettings(
        _ session: Session, _ state: FormState, context: MerchantContext, status: HTTPResponse.Status
    ) async throws -> Response {
        let chosen = Set(try await accounts.emailEvents(userID: session.userID, accountID: session.accountID))
        return renderer.page(
            "accounts/settings",
            title: "Settings",
            SettingsView(
                name: session.userName, email: session.email, accountName: session.accountName, accountID: session.accountID,
                business: state.values["business"] ?? session.accountName,
                timeZones: Self.timeZones.map { zone in
                    ZoneOption(value: zone, selected: zone == (session.timeZone ?? "UTC"))
                },
                errors: state.errors, summary: state.summary(order: ["business", "time_zone"] + Self.passwordFields),
                minimumLength: PasswordPolicy.minimumLength,
                emailEvents: Self.emailEventChoices.map { EmailChoice(value: $0.0, label: $0.1, checked: chosen.contains($0.0)) },
                emailEnabled: emailEnabled
            ),
            context: context,
            status: status
        )
    }

    // MARK: helpers

    static func redirect(_ path: String) -> Response {
        Response(status: .seeOther, headers: [.location: path])
    }

    /// Only local paths, so `?next=` cannot send someone to another site.
    static func safeNext(_ next: String?) -> String {
        guard let next, isLocalPath(next) else { return "/dashboard" }
        return next
    }

    /// Whether a browser, given `target` as a Location, stays on this site. A browser drops tabs and
    /// newlines anywhere in a URL and controls and spaces at its ends, and reads `\` as `/`, so
    /// `/<tab>/evil.example` becomes `//evil.example`, another host. So: printable ASCII only (links
    /// Kassa makes percent-encode the rest), no backslash, one leading `/` not followed by another,
    /// and once parsed no scheme, host, user or port.
    static func isLocalPath(_ target: String) -> Bool {
        let bytes = Array(target.utf8)
        guard bytes.count < 512, bytes.first == UInt8(ascii: "/"),
            bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\\") })
        else { return false }
        if bytes.count > 1 && bytes[1] == UInt8(ascii: "/") { return false }
        guard let parsed = URLComponents(string: target), parsed.scheme == nil, parsed.host == nil,
            parsed.user == nil, parsed.port == nil
        else { return false }
        return parsed.path.hasPrefix("/") && !parsed.path.hasPrefix("//")
    }

    func cookie(_ name: String, _ value: String, maxAge: Int?) -> Cookie {
        Cookies.make(name, value, maxAge: maxAge, secure: secureCookies)
    }
}

// Views rendered by name, not through Mirror (see `ViewParity`): the settings list every time zone.
extension AccountsController.SettingsView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "name": self.name
        case "email": self.email
        case "accountName": self.accountName
        case "accountID": self.accountID
        case "business": self.business
        case "timeZones": self.timeZones
        case "errors": self.errors
        case "summary": self.summary
        case "minimumLength": self.minimumLength
        case "emailEvents": self.emailEvents
        case "emailEnabled": self.emailEnabled
        default: nil
        }
    }
}

extension AccountsController.ZoneOption: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "value": self.value
        case "selected": self.selected
        default: nil
        }
    }
}
