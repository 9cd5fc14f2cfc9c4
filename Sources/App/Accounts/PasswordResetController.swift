import Foundation
import Hummingbird
import Logging
import PaymentCore

/// "Forgot password?": a link sent by email (or printed by `kassa reset-password` where Kassa
/// sends no email) that lets a person choose a new password, once, within 30 minutes. The forgot
/// page answers the same whether or not an account uses the address.
struct PasswordResetController: Sendable {
    let resets: PasswordResets
    let service: AccountService
    let sessions: SessionStore
    let renderer: Renderer
    /// Nil when Kassa sends no email: the page then says how an operator can help.
    let smtp: SMTPClient?
    let baseURL: String
    let secureCookies: Bool

    func addRoutes(to router: RouterGroup<AppRequestContext>) {
        router.get("/password/forgot", use: self.showForgot)
        router.post("/password/forgot", use: self.forgot)
        router.get("/password/reset", use: self.showReset)
        router.post("/password/reset", use: self.reset)
    }

    // MARK: asking for a link

    struct ForgotView: Sendable {
        let form: [String: String]
        let errors: [String: String]
        let summary: FormState.Summary?
        let sent: Bool
        let email: String
        let emailEnabled: Bool
    }

    struct ResetEmail: Sendable {
        let name: String
        let email: String
        let url: String
    }

    func showForgot(_ request: Request, context: AppRequestContext) async throws -> Response {
        renderForgot(FormState(), sent: false, context: context, status: .ok)
    }

    func forgot(_ request: Request, context: AppRequestContext) async throws -> Response {
        let email = (context.form["email"] ?? "").trimmingCharacters(in: .whitespaces)
        var state = FormState(values: ["email": email])
        if let problem = AccountService.emailProblem(email) { state.errors["email"] = problem }
        guard !state.hasErrors, let smtp else {
            return renderForgot(state, sent: false, context: context, status: smtp == nil ? .ok : .unprocessableContent)
        }
        do {
            try await service.spendResetBudget(email: email, client: context.remoteAddress)
        } catch let refused as AccountService.TooManyAttempts {
            state.errors["email"] = refused.message(for: "links")
            var response = renderForgot(state, sent: false, context: context, status: .tooManyRequests)
            response.headers[.retryAfter] = String(refused.retryAfter)
            return response
        }
        if let issued = try await resets.issue(email: email) {
            let view = ResetEmail(name: issued.user.name, email: issued.user.email, url: PasswordResets.link(baseURL: baseURL, token: issued.token))
            let message = SMTPClient.Message(
                to: issued.user.email, subject: "Choose a new Kassa password",
                text: renderer.render(view, template: "emails/password_reset_text"),
                html: renderer.render(view, template: "emails/password_reset_html")
            )
            // Sent after answering, so the answer takes as long for an unknown address.
            let logger = context.logger
            let userID = issued.user.id
            Task {
                do {
                    try await smtp.send(message)
                    logger.info("password reset link sent", metadata: ["user_id": .string(userID)])
                } catch {
                    logger.warning("password reset email failed", metadata: ["user_id": .string(userID), "error": "\(error)"])
                }
            }
        }
        return renderForgot(state, sent: true, context: context, status: .ok)
    }

    private func renderForgot(_ state: FormState, sent: Bool, context: AppRequestContext, status: HTTPResponse.Status) -> Response {
        renderer.page(
            "accounts/forgot",
            title: "Forgot your password?",
            ForgotView(
                form: state.values, errors: state.errors, summary: state.summary(order: ["email"]), sent: sent,
                email: state.values["email"] ?? "", emailEnabled: smtp != nil
            ),
            context: context,
            status: status,
            bodyClass: "narrow"
        )
    }

    // MARK: using it

    struct ResetView: Sendable {
        let valid: Bool
        let token: String
        let email: String
        let errors: [String: String]
        let summary: FormState.Summary?
        let minimumLength: Int
    }

    static let fields = ["new_password", "confirm_password"]

    func showReset(_ request: Request, context: AppRequestContext) async throws -> Response {
        let token = request.uri.queryParameters["token"].map(String.init) ?? ""
        let holder = try await resets.holder(token: token)
        return renderReset(token: token, email: holder, FormState(), context: context, status: holder == nil ? .gone : .ok)
    }

    func reset(_ request: Request, context: AppRequestContext) async throws -> Response {
        let form = context.form
        let token = form["token"] ?? ""
        let new = form.raw("new_password") ?? ""
        let confirmation = form.raw("confirm_password") ?? ""
        guard let email = try await resets.holder(token: token) else {
            return renderReset(token: token, email: nil, FormState(), context: context, status: .gone)
        }
        var state = FormState()
        if let problem = service.policy.problem(with: new, email: email) {
            state.errors["new_password"] = problem
        } else if confirmation != new {
            state.errors["confirm_password"] = "The two new passwords do not match."
        }
        guard !state.hasErrors else { return renderReset(token: token, email: email, state, context: context, status: .unprocessableContent) }
        // Hashing is the expensive part: counted per client like sign-ins.
        do {
            try await service.spendResetBudget(email: nil, client: context.remoteAddress)
        } catch let refused as AccountService.TooManyAttempts {
            state.errors["new_password"] = refused.message(for: "attempts")
            var response = renderReset(token: token, email: email, state, context: context, status: .tooManyRequests)
            response.headers[.retryAfter] = String(refused.retryAfter)
            return response
        }
        guard let userID = try await resets.redeem(token: token, passwordHash: try await service.hasher.hash(new)) else {
            return renderReset(token: token, email: nil, FormState(), context: context, status: .gone)
        }
        // Whoever held a session (perhaps the person who made the reset necessary) is signed out,
        // and a sign-in budget this person used up while locked out starts again.
        try await sessions.destroyAll(userID: userID, except: nil)
        try await service.limiter.reset(AccountService.loginBucket(email: email))
        context.logger.info("password reset", metadata: ["user_id": .string(userID)])
        var response = AccountsController.redirect("/login")
        response.setCookie(Cookies.make(SessionMiddleware.flashCookie, Flash.passwordReset.rawValue, maxAge: 60, secure: secureCookies))
        return response
    }

    private func renderReset(
        token: String, email: String?, _ state: FormState, context: AppRequestContext, status: HTTPResponse.Status
    ) -> Response {
        renderer.page(
            "accounts/reset",
            title: "Choose a new password",
            ResetView(
                valid: email != nil, token: email == nil ? "" : token, email: email ?? "", errors: state.errors,
                summary: state.summary(order: Self.fields), minimumLength: PasswordPolicy.minimumLength
            ),
            context: context,
            status: status,
            bodyClass: "narrow"
        )
    }
}
