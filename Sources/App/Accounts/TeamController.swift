import Foundation
import Hummingbird
import Logging
import PaymentCore

/// `/settings/team` (the people, their roles, invitations), `/settings/audit`, and
/// `/invites/{token}` where an invited person joins. Who may do what is `RoleRules`'s.
struct TeamController: Sendable {
    let team: Team
    let audit: AuditLog
    let service: AccountService
    let sessions: SessionStore
    let renderer: Renderer
    let smtp: SMTPClient?
    let baseURL: String
    let secureCookies: Bool

    func addMerchantRoutes(to router: RouterGroup<MerchantContext>) {
        router.get("/settings/team", use: self.show)
        router.post("/settings/team/invites", use: self.invite)
        router.post("/settings/team/invites/:id/revoke", use: self.revokeInvite)
        router.post("/settings/team/members/:id/role", use: self.changeRole)
        router.post("/settings/team/members/:id/remove", use: self.remove)
        router.post("/settings/team/leave", use: self.leave)
        router.get("/settings/audit", use: self.showAudit)
    }

    func addRoutes(to router: RouterGroup<AppRequestContext>) {
        router.get("/invites/:token", use: self.showInvite)
        router.post("/invites/:token", use: self.acceptInvite)
    }

    // MARK: the team page

    struct MemberRow: Sendable {
        let id: String
        let name: String
        let email: String
        let role: String
        let twoFactor: Bool
        let joined: String
        let isYou: Bool
        let roles: [Option]
    }

    struct InviteRow: Sendable {
        let id: String
        let email: String
        let role: String
        let expires: String
    }

    struct Option: Sendable {
        let value: String
        let label: String
        let selected: Bool
    }

    struct TeamView: Sendable {
        let members: [MemberRow]
        let invites: [InviteRow]
        let hasInvites: Bool
        let isOwner: Bool
        let yourRole: String
        let roles: [Option]
        let roleHelp: [Option]
        let newInviteURL: String?
        let newInviteEmail: String?
        let emailSent: Bool
        let form: [String: String]
        let errors: [String: String]
        let summary: FormState.Summary?
        let problem: String?
    }

    func show(_ request: Request, context: MerchantContext) async throws -> Response {
        try await render(context, state: FormState(), problem: nil, status: .ok)
    }

    func invite(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let email = (context.form["email"] ?? "").trimmingCharacters(in: .whitespaces)
        let roleText = context.form["role"] ?? ""
        var state = FormState(values: ["email": email, "role": roleText])
        if let problem = AccountService.emailProblem(email) { state.errors["email"] = problem }
        let role = Role(rawValue: roleText)
        if role == nil { state.errors["role"] = "Choose a role." }
        guard !state.hasErrors, let role else { return try await render(context, state: state, problem: nil, status: .unprocessableContent) }
        let made: (Team.Invite, String)
        do {
            made = try await team.invite(accountID: session.accountID, email: email, role: role, by: session.userID)
        } catch Team.TeamError.emailTaken {
            state.errors["email"] = "This email already signs in to Kassa. A person belongs to one business for now; invite another address."
            return try await render(context, state: state, problem: nil, status: .unprocessableContent)
        }
        let url = baseURL + "/invites/" + made.1
        await audit.record(
            accountID: session.accountID, userID: session.userID, actor: session.email, action: "team.invited",
            detail: "\(email) as \(role.rawValue)",
            client: context.request.remoteAddress)
        if let smtp {
            let view = EmailWorker.EmailView(
                title: "\(session.userName) invites you to \(session.accountName) on Kassa",
                body: "You are invited as \(role.rawValue) (who \(role.summary)). The link works once, for 7 days.", url: url,
                settingsURL: baseURL + "/login")
            let message = SMTPClient.Message(
                to: email, subject: view.title, text: renderer.render(view, template: "emails/notification_text"),
                html: renderer.render(view, template: "emails/notification_html"))
            let logger = context.logger
            Task {
                do { try await smtp.send(message) } catch { logger.warning("invitation email failed", metadata: ["error": "\(error)"]) }
            }
        }
        return try await render(context, state: FormState(), problem: nil, invited: (url, email), status: .created)
    }

    func revokeInvite(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let id = try context.parameters.require("id")
        guard try await team.revokeInvite(accountID: session.accountID, id: id) else { throw HTTPError(.notFound) }
        await audit.record(
            accountID: session.accountID, userID: session.userID, actor: session.email, action: "team.invite_revoked", detail: id,
            client: context.request.remoteAddress)
        return .redirect(to: "/settings/team", flash: .inviteRevoked, secureCookies: secureCookies)
    }

    func changeRole(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let id = try context.parameters.require("id")
        guard let role = Role(rawValue: context.form["role"] ?? "") else { throw HTTPError(.badRequest, message: "Choose a role.") }
        do {
            try await team.setRole(accountID: session.accountID, userID: id, to: role)
        } catch Team.TeamError.lastOwner {
            return try await render(
                context, state: FormState(), problem: "The account needs an owner: make someone else an owner first.", status: .conflict)
        } catch Team.TeamError.notMember {
            throw HTTPError(.notFound)
        }
        // Their sessions carry their role: they sign in again under the new one.
        try await sessions.destroyAll(userID: id, except: nil)
        await audit.record(
            accountID: session.accountID, userID: session.userID, actor: session.email, action: "team.role_changed",
            detail: "\(id) to \(role.rawValue)",
            client: context.request.remoteAddress)
        if id == session.userID { return .redirect(to: "/login", flash: .sessionExpired, secureCookies: secureCookies) }
        return .redirect(to: "/settings/team", flash: .roleChanged, secureCookies: secureCookies)
    }

    func remove(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let id = try context.parameters.require("id")
        return try await removeMember(id, context: context, leaving: id == session.userID)
    }

    /// Anyone may leave, except the last owner.
    func leave(_ request: Request, context: MerchantContext) async throws -> Response {
        try await removeMember(context.session.userID, context: context, leaving: true)
    }

    private func removeMember(_ id: String, context: MerchantContext, leaving: Bool) async throws -> Response {
        let session = context.session
        do {
            try await team.remove(accountID: session.accountID, userID: id)
        } catch Team.TeamError.lastOwner {
            return try await render(
                context, state: FormState(),
                problem: leaving
                    ? "You are the account's last owner: make someone else an owner before you leave." : "The account needs an owner.",
                status: .conflict)
        } catch Team.TeamError.notMember {
            throw HTTPError(.notFound)
        }
        try await sessions.destroyAll(userID: id, except: nil)
        await audit.record(
            accountID: session.accountID, userID: session.userID, actor: session.email, action: leaving ? "team.left" : "team.removed", detail: id,
            client: context.request.remoteAddress)
        if leaving { return .redirect(to: "/login", flash: .signedOut, secureCookies: secureCookies) }
        return .redirect(to: "/settings/team", flash: .memberRemoved, secureCookies: secureCookies)
    }

    private func render(
        _ context: MerchantContext, state: FormState, problem: String?, invited: (String, String)? = nil, status: HTTPResponse.Status
    ) async throws -> Response {
        let session = context.session
        let isOwner = session.role == .owner
        let members = try await team.members(accountID: session.accountID).map { member in
            MemberRow(
                id: member.id, name: member.name, email: member.email, role: member.role.label, twoFactor: member.twoFactor,
                joined: Formats.date(member.joined), isYou: member.id == session.userID,
                roles: Role.allCases.map { Option(value: $0.rawValue, label: $0.label, selected: $0 == member.role) })
        }
        let invites = isOwner ? try await team.openInvites(accountID: session.accountID) : []
        let chosen = state.values["role"] ?? Role.viewer.rawValue
        return renderer.page(
            "accounts/team", title: "Team",
            TeamView(
                members: members,
                invites: invites.map { InviteRow(id: $0.id, email: $0.email, role: $0.role.label, expires: Formats.dateTime($0.expiresAt)) },
                hasInvites: !invites.isEmpty, isOwner: isOwner, yourRole: session.role.label,
                roles: Role.allCases.map { Option(value: $0.rawValue, label: $0.label, selected: $0.rawValue == chosen) },
                roleHelp: Role.allCases.map { Option(value: $0.label, label: $0.summary, selected: false) },
                newInviteURL: invited?.0, newInviteEmail: invited?.1, emailSent: invited != nil && smtp != nil, form: state.values,
                errors: state.errors, summary: state.summary(order: ["email", "role"]), problem: problem),
            context: context, status: status)
    }

    // MARK: the audit log

    struct AuditRow: Sendable {
        let at: String
        let actor: String
        let action: String
        let detail: String
        let client: String
    }

    struct AuditView: Sendable {
        let entries: [AuditRow]
        let hasEntries: Bool
    }

    func showAudit(_ request: Request, context: MerchantContext) async throws -> Response {
        let entries = try await audit.entries(accountID: context.session.accountID).map {
            AuditRow(at: Formats.dateTime($0.at), actor: $0.actor, action: $0.action, detail: $0.detail, client: $0.client)
        }
        return renderer.page("accounts/audit", title: "Audit log", AuditView(entries: entries, hasEntries: !entries.isEmpty), context: context)
    }

    // MARK: joining

    struct InviteView: Sendable {
        let token: String
        let accountName: String
        let email: String
        let role: String
        let roleSummary: String
        let minimumLength: Int
        let form: [String: String]
        let errors: [String: String]
        let summary: FormState.Summary?
    }

    static func invalidInvite() -> PageError {
        PageError(
            status: .gone, heading: "This invitation no longer works",
            message: "It was used, withdrawn, or is more than 7 days old. Ask whoever invited you for a new one.")
    }

    func showInvite(_ request: Request, context: AppRequestContext) async throws -> Response {
        let token = try context.parameters.require("token")
        guard let invite = try await team.invite(token: token) else { throw Self.invalidInvite() }
        return renderInvite(token: token, invite: invite, state: FormState(), context: context, status: .ok)
    }

    func acceptInvite(_ request: Request, context: AppRequestContext) async throws -> Response {
        let token = try context.parameters.require("token")
        guard let invite = try await team.invite(token: token) else { throw Self.invalidInvite() }
        let name = (context.form["name"] ?? "").trimmingCharacters(in: .whitespaces)
        let password = context.form.raw("password") ?? ""
        var state = FormState(values: ["name": name])
        if name.isEmpty || name.count > 200 { state.errors["name"] = "Enter your name (at most 200 characters)." }
        if let problem = service.policy.problem(with: password, email: invite.email) { state.errors["password"] = problem }
        guard !state.hasErrors else {
            return renderInvite(token: token, invite: invite, state: state, context: context, status: .unprocessableContent)
        }
        let hash = try await service.hasher.hash(password)
        let userID: String
        do {
            userID = try await team.accept(token: token, name: name, passwordHash: hash)
        } catch Team.TeamError.inviteInvalid {
            throw Self.invalidInvite()
        } catch Team.TeamError.emailTaken {
            throw PageError(
                status: .conflict, heading: "This email already signs in to Kassa",
                message: "Sign in with it, or ask for an invitation to another address.")
        }
        guard let user = try await service.accounts.user(id: userID) else { throw Self.invalidInvite() }
        await audit.record(user, "team.joined", detail: "as \(user.role.rawValue)", client: context.remoteAddress)
        if let old = context.session { try await sessions.destroy(old) }
        let session = try await sessions.create(
            userID: user.id, accountID: user.accountID, userName: user.name, email: user.email, accountName: user.accountName,
            timeZone: user.timeZone, role: user.role)
        var response = Response.redirect(to: "/dashboard", flash: .welcome, secureCookies: secureCookies)
        response.setCookie(Cookies.make(SessionMiddleware.sessionCookie, session.id, maxAge: nil, secure: secureCookies))
        return response
    }

    private func renderInvite(
        token: String, invite: Team.Invite, state: FormState, context: AppRequestContext, status: HTTPResponse.Status
    )
        -> Response
    {
        renderer.page(
            "accounts/invite", title: "Join \(invite.accountName) on Kassa",
            InviteView(
                token: token, accountName: invite.accountName, email: invite.email, role: invite.role.rawValue, roleSummary: invite.role.summary,
                minimumLength: PasswordPolicy.minimumLength, form: state.values, errors: state.errors,
                summary: state.summary(order: ["name", "password"])),
            context: context, status: status, bodyClass: "narrow")
    }
}
