import Foundation
import Hummingbird
import PaymentCore

/// `/settings/security`: two-factor sign-in for the signed-in person. Turning it on shows a QR
/// code of the `otpauth://` address and the secret as text, asks for a first code, and then shows
/// ten recovery codes once. Turning it off takes the password and a code.
struct SecurityController: Sendable {
    let twoFactor: TwoFactor
    let service: AccountService
    let renderer: Renderer
    let audit: AuditLog
    let secureCookies: Bool

    func addRoutes(to router: RouterGroup<MerchantContext>) {
        router.get("/settings/security", use: self.show)
        router.post("/settings/security/totp", use: self.start)
        router.post("/settings/security/totp/confirm", use: self.confirm)
        router.post("/settings/security/totp/disable", use: self.disable)
    }

    struct PageView: Sendable {
        let enabled: Bool
        let enrolling: Bool
        /// Trusted: drawn by `QRCode.svg` from the otpauth address, no user text inside but the email, escaped there.
        let qrSVG: String
        let secret: String
        let recoveryCodes: [String]
        let hasRecoveryCodes: Bool
        let recoveryCodesText: String
        /// The codes percent-encoded for a `data:` download link.
        let recoveryCodesDownload: String
        let recoveryCodesLeft: Int
        let errors: [String: String]
        let summary: FormState.Summary?
    }

    func show(_ request: Request, context: MerchantContext) async throws -> Response {
        try await render(context, state: FormState(), codes: [], status: .ok)
    }

    /// A new secret to scan; nothing changes for sign-in until its first code is confirmed.
    func start(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        guard try await !twoFactor.isEnabled(userID: session.userID) else {
            return .redirect(to: "/settings/security", secureCookies: secureCookies)
        }
        _ = try await twoFactor.start(userID: session.userID)
        return try await render(context, state: FormState(), codes: [], status: .ok)
    }

    func confirm(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let code = (context.form["code"] ?? "").trimmingCharacters(in: .whitespaces)
        var state = FormState()
        guard !code.isEmpty else {
            state.errors["code"] = "Enter the 6-digit code your app shows for Kassa."
            return try await render(context, state: state, codes: [], status: .unprocessableContent)
        }
        if let refused = try await spendBudget(session) {
            state.errors["code"] = refused.message(for: "codes")
            return try await render(context, state: state, codes: [], status: .tooManyRequests, retryAfter: refused.retryAfter)
        }
        guard let codes = try await twoFactor.confirm(userID: session.userID, code: code) else {
            state.errors["code"] = "That code is not right. Check the time on your phone and enter the code shown now."
            return try await render(context, state: state, codes: [], status: .unprocessableContent)
        }
        context.logger.info("two-factor sign-in turned on", metadata: ["user_id": .string(session.userID)])
        await audit.record(session, "two_factor.enabled", client: context.request.remoteAddress)
        return try await render(context, state: FormState(), codes: codes, status: .ok)
    }

    func disable(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let password = context.form.raw("password") ?? ""
        let code = (context.form["code"] ?? "").trimmingCharacters(in: .whitespaces)
        var state = FormState()
        guard let user = try await service.accounts.user(id: session.userID) else { throw HTTPError(.notFound) }
        // The password and the code are guessed against the same budget as the code at sign-in.
        if let refused = try await spendBudget(session) {
            state.errors["code"] = refused.message(for: "attempts")
            return try await render(context, state: state, codes: [], status: .tooManyRequests, retryAfter: refused.retryAfter)
        }
        if password.isEmpty {
            state.errors["password"] = "Enter your password."
        } else if try await !service.hasher.verify(password, against: user.passwordHash) {
            state.errors["password"] = "That is not your password."
        }
        if code.isEmpty { state.errors["code"] = "Enter a code from your app, or a recovery code." }
        if !state.hasErrors, try await !twoFactor.verify(userID: session.userID, code: code) {
            state.errors["code"] = "That code is not right, or was used already."
        }
        guard !state.hasErrors else { return try await render(context, state: state, codes: [], status: .unprocessableContent) }
        try await twoFactor.disable(userID: session.userID)
        context.logger.info("two-factor sign-in turned off", metadata: ["user_id": .string(session.userID)])
        await audit.record(session, "two_factor.disabled", client: context.request.remoteAddress)
        return .redirect(to: "/settings/security", flash: .twoFactorOff, secureCookies: secureCookies)
    }

    /// Spends one of the person's second-factor attempts; the refusal when none is left.
    private func spendBudget(_ session: Session) async throws -> AccountService.TooManyAttempts? {
        do {
            try await service.spendCodeBudget(userID: session.userID)
            return nil
        } catch let refused as AccountService.TooManyAttempts {
            return refused
        }
    }

    private func render(
        _ context: MerchantContext, state: FormState, codes: [String], status: HTTPResponse.Status, retryAfter: Int? = nil
    ) async throws -> Response {
        let session = context.session
        let current = try await twoFactor.state(userID: session.userID)
        let pending = current.enabled ? nil : current.pending
        let uri = pending.map { TwoFactor.provisioningURI(secret: $0, email: session.email) }
        var response = renderer.page(
            "accounts/security", title: "Security",
            PageView(
                enabled: current.enabled, enrolling: pending != nil, qrSVG: uri.flatMap { QRCode.svg($0) } ?? "",
                secret: pending.map(TwoFactor.base32) ?? "", recoveryCodes: codes, hasRecoveryCodes: !codes.isEmpty,
                recoveryCodesText: codes.joined(separator: "\n"),
                recoveryCodesDownload: ("Kassa recovery codes for \(session.email)\n\n" + codes.joined(separator: "\n") + "\n")
                    .addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-"))) ?? "",
                recoveryCodesLeft: current.recoveryCodesLeft, errors: state.errors,
                summary: state.summary(order: ["password", "code"])
            ),
            context: context, status: status)
        if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }
}
