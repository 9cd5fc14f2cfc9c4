import Foundation
import Hummingbird
import Logging
import Mustache
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
        router.get("/businesses", use: self.showBusinesses)
        router.post("/businesses/switch", use: self.switchBusiness)
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

    typealias Option = SelectOption

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
        } catch Team.TeamError.alreadyMember {
            state.errors["email"] = "This person is already in \(session.accountName)."
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
        // Their sessions here carry their role: they sign in again under the new one.
        try await sessions.destroyAll(userID: id, in: session.accountID)
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
        try await sessions.destroyAll(userID: id, in: session.accountID)
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
        /// The email already signs in to Kassa: they join by signing in, not by choosing a password.
        let existing: Bool
        /// Signed in as the invited person: one button joins.
        let signedInAsInvited: Bool
        /// Signed in as someone else.
        let signedInAs: String?
        let loginURL: String
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
        return try await renderInvite(token: token, invite: invite, state: FormState(), context: context, status: .ok)
    }

    func acceptInvite(_ request: Request, context: AppRequestContext) async throws -> Response {
        let token = try context.parameters.require("token")
        guard let invite = try await team.invite(token: token) else { throw Self.invalidInvite() }
        if try await service.accounts.user(email: invite.email) != nil {
            return try await joinAsExisting(token: token, invite: invite, context: context)
        }
        let name = (context.form["name"] ?? "").trimmingCharacters(in: .whitespaces)
        let password = context.form.raw("password") ?? ""
        var state = FormState(values: ["name": name])
        if name.isEmpty || name.count > 200 { state.errors["name"] = "Enter your name (at most 200 characters)." }
        if let problem = service.policy.problem(with: password, email: invite.email) { state.errors["password"] = problem }
        guard !state.hasErrors else {
            return try await renderInvite(token: token, invite: invite, state: state, context: context, status: .unprocessableContent)
        }
        let hash = try await service.hasher.hash(password)
        let userID: String
        do {
            userID = try await team.accept(token: token, name: name, passwordHash: hash)
        } catch Team.TeamError.inviteInvalid {
            throw Self.invalidInvite()
        } catch Team.TeamError.emailTaken {
            // Someone made a sign-in with this email since the page was shown: they join by signing in.
            return try await renderInvite(token: token, invite: invite, state: FormState(), context: context, status: .conflict)
        }
        guard let user = try await service.accounts.user(id: userID) else { throw Self.invalidInvite() }
        await audit.record(user, "team.joined", detail: "as \(user.role.rawValue)", client: context.remoteAddress)
        return try await startSession(for: user, replacing: context.session, flash: .welcome)
    }

    /// Someone who already signs in to Kassa joins by being signed in as the invited email: a
    /// link alone never adds a business to a person's sign-in.
    private func joinAsExisting(token: String, invite: Team.Invite, context: AppRequestContext) async throws -> Response {
        guard let session = context.session, session.email.lowercased() == invite.email.lowercased() else {
            return try await renderInvite(token: token, invite: invite, state: FormState(), context: context, status: .forbidden)
        }
        let accountID: AccountID
        do {
            accountID = try await team.join(token: token, userID: session.userID, email: session.email)
        } catch Team.TeamError.inviteInvalid, Team.TeamError.inviteForSomeoneElse {
            throw Self.invalidInvite()
        } catch Team.TeamError.alreadyMember {
            throw PageError(
                status: .conflict, heading: "You are already in \(invite.accountName)",
                message: "Choose it under your name, in the menu at the top of the page.")
        }
        guard let user = try await service.accounts.user(id: session.userID, in: accountID) else { throw Self.invalidInvite() }
        await audit.record(user, "team.joined", detail: "as \(user.role.rawValue)", client: context.remoteAddress)
        return try await startSession(for: user, replacing: session, flash: .joined)
    }

    /// A new session in the business joined or chosen; the old one (another business's) ends.
    private func startSession(for user: AccountStore.User, replacing old: Session?, flash: Flash) async throws -> Response {
        if let old { try await sessions.destroy(old) }
        let session = try await sessions.create(for: user)
        var response = Response.redirect(to: user.isOperator ? "/ops" : "/dashboard", flash: flash, secureCookies: secureCookies)
        response.setCookie(Cookies.make(SessionMiddleware.sessionCookie, session.id, maxAge: nil, secure: secureCookies))
        return response
    }

    private func renderInvite(
        token: String, invite: Team.Invite, state: FormState, context: AppRequestContext, status: HTTPResponse.Status
    ) async throws -> Response {
        let existing = try await service.accounts.user(email: invite.email) != nil
        let signedIn = context.session?.email
        let isInvited = signedIn.map { $0.lowercased() == invite.email.lowercased() } ?? false
        return renderer.page(
            "accounts/invite", title: "Join \(invite.accountName) on Kassa",
            InviteView(
                token: token, accountName: invite.accountName, email: invite.email, role: invite.role.rawValue, roleSummary: invite.role.summary,
                minimumLength: PasswordPolicy.minimumLength, existing: existing, signedInAsInvited: existing && isInvited,
                signedInAs: existing && !isInvited ? signedIn : nil,
                loginURL: "/login?next=" + ("/invites/" + token).addingPercentEncoding(
                    withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "/-_")))!,
                form: state.values, errors: state.errors, summary: state.summary(order: ["name", "password"])),
            context: context, status: status, bodyClass: "narrow")
    }

    // MARK: the business switcher

    struct BusinessRow: Sendable {
        let id: String
        let name: String
        let role: String
        let current: Bool
    }

    struct BusinessesView: Sendable {
        let businesses: [BusinessRow]
    }

    /// The businesses the signed-in person belongs to, with their role in each.
    func showBusinesses(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let rows = try await service.accounts.memberships(userID: session.userID).map {
            BusinessRow(id: $0.accountID.rawValue, name: $0.accountName, role: $0.role.label, current: $0.accountID == session.accountID)
        }
        return renderer.page("accounts/businesses", title: "Your businesses", BusinessesView(businesses: rows), context: context)
    }

    /// Opens another of the person's businesses: a new session in it (the membership is read
    /// again, so a removed person cannot switch back in), and the next sign-in opens it too.
    func switchBusiness(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let chosen = AccountID(context.form["account_id"] ?? "")
        guard let user = try await service.accounts.user(id: session.userID, in: chosen) else {
            throw PageError(
                status: .notFound, heading: "You are not in that business",
                message: "Choose one of yours from the list, or ask an owner of that business for an invitation.")
        }
        try await service.accounts.setHome(userID: user.id, accountID: chosen)
        await audit.record(user, "account.switched_in", detail: "from another business", client: context.request.remoteAddress)
        return try await startSession(for: user, replacing: session, flash: .switched)
    }
}

// Views rendered by name, not through Mirror (see `ViewParity`).
extension TeamController.MemberRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": self.id
        case "name": self.name
        case "email": self.email
        case "role": self.role
        case "twoFactor": self.twoFactor
        case "joined": self.joined
        case "isYou": self.isYou
        case "roles": self.roles
        default: nil
        }
    }
}

extension TeamController.InviteRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": self.id
        case "email": self.email
        case "role": self.role
        case "expires": self.expires
        default: nil
        }
    }
}

extension TeamController.TeamView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "members": self.members
        case "invites": self.invites
        case "hasInvites": self.hasInvites
        case "isOwner": self.isOwner
        case "yourRole": self.yourRole
        case "roles": self.roles
        case "roleHelp": self.roleHelp
        case "newInviteURL": self.newInviteURL
        case "newInviteEmail": self.newInviteEmail
        case "emailSent": self.emailSent
        case "form": self.form
        case "errors": self.errors
        case "summary": self.summary
        case "problem": self.problem
        default: nil
        }
    }
}

extension TeamController.AuditRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "at": self.at
        case "actor": self.actor
        case "action": self.action
        case "detail": self.detail
        case "client": self.client
        default: nil
        }
    }
}

extension TeamController.AuditView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "entries": self.entries
        case "hasEntries": self.hasEntries
        default: nil
        }
    }
}

extension TeamController.InviteView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "token": self.token
        case "accountName": self.accountName
        case "email": self.email
        case "role": self.role
        case "roleSummary": self.roleSummary
        case "minimumLength": self.minimumLength
        case "existing": self.existing
        case "signedInAsInvited": self.signedInAsInvited
        case "signedInAs": self.signedInAs
        case "loginURL": self.loginURL
        case "form": self.form
        case "errors": self.errors
        case "summary": self.summary
        default: nil
        }
    }
}

extension TeamController.BusinessRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": self.id
        case "name": self.name
        case "role": self.role
        case "current": self.current
        default: nil
        }
    }
}

extension TeamController.BusinessesView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "businesses": self.businesses
        default: nil
        }
    }
}
