import Foundation
import Hummingbird
import Mustache
import PaymentCore

/// `/ops`: the platform operator's console. The platform over the last hour and day (this
/// process's checkouts, latency and errors, the consumers' lag, the issuers' circuits), the
/// merchants (searchable, sortable by volume, declines and API errors, each with a sparkline), and
/// one merchant's numbers, people and the operator's actions on it: API and checkout velocity
/// limits, suspend and resume, each with a required reason and an audit row.
///
/// Only operators see it: anyone else, signed in or not, gets 404.
struct OpsController: Sendable {
    let store: OpsStore
    let payments: Payments
    let stats: OpsStats
    let suspensions: Suspensions
    let accountLimits: AccountRateLimits
    /// The API budget of a merchant without one of its own.
    let defaultAPIPerMinute: Int
    let twoFactor: TwoFactor
    let renderer: Renderer
    let secureCookies: Bool

    func addRoutes(to router: RouterGroup<AppRequestContext>) {
        let ops = router.group("ops").add(middleware: OperatorMiddleware(twoFactor: twoFactor, secureCookies: secureCookies))
        ops.get(use: self.index)
        ops.get("merchants/:id", use: self.merchant)
        ops.post("merchants/:id/suspend", use: self.suspend)
        ops.post("merchants/:id/resume", use: self.resume)
        ops.post("merchants/:id/limits", use: self.limits)
    }

    // MARK: the platform

    struct WindowView: Sendable {
        let label: String
        let checkouts: String
        let perSecond: String
        let successRate: String
        let p50: String
        let p99: String
        let errorRate: String
        let slow: Bool
        let failing: Bool
    }

    struct LagView: Sendable {
        let consumer: String
        let seconds: String
        let late: Bool
    }

    struct CircuitView: Sendable {
        let issuer: String
        let open: Bool
    }

    struct MerchantRow: Sendable {
        let name: String
        let url: String
        let suspended: Bool
        let paid: Int
        let declined: Int
        let apiErrors: Int
        let volume: String
        let sparkline: String
        let sparklineLabel: String
    }

    typealias SortOption = SelectOption

    struct IndexView: Sendable {
        let windows: [WindowView]
        let lags: [LagView]
        let circuits: [CircuitView]
        let hasCircuits: Bool
        let merchants: [MerchantRow]
        let hasMerchants: Bool
        let query: String
        let sorts: [SortOption]
        let count: String
    }

    func index(_ request: Request, context: AppRequestContext) async throws -> Response {
        let query = String((request.uri.queryParameters["q"].map(String.init) ?? "").trimmingCharacters(in: .whitespaces).prefix(200))
        let sort = request.uri.queryParameters["sort"].map(String.init) ?? "volume"
        let now = Date()
        var merchants = try await store.merchants(matching: query, today: now)
        let errors = stats.apiErrorsByAccount()
        switch sort {
        case "declines": merchants.sort { ($0.declined, $0.paid) > ($1.declined, $1.paid) }
        case "errors": merchants.sort { (errors[$0.id.rawValue] ?? 0, $0.paid) > (errors[$1.id.rawValue] ?? 0, $1.paid) }
        default: merchants.sort { ($0.paid, $0.declined) > ($1.paid, $1.declined) }
        }
        let lags = (try? await payments.log.lag()) ?? []
        let circuits = payments.issuerCircuits.sorted { $0.key < $1.key }
        let view = IndexView(
            windows: [Self.window("Last hour", stats.window(minutes: 60)), Self.window("Last 24 hours", stats.window(minutes: 24 * 60))],
            lags: lags.map { LagView(consumer: $0.consumer.rawValue, seconds: VolumeChart.fixed($0.seconds) + " s", late: $0.seconds > 5) },
            circuits: circuits.map { CircuitView(issuer: $0.key, open: $0.value) }, hasCircuits: !circuits.isEmpty,
            merchants: merchants.map { merchant in
                MerchantRow(
                    name: merchant.name, url: "/ops/merchants/\(merchant.id)", suspended: merchant.suspended, paid: merchant.paid,
                    declined: merchant.declined, apiErrors: errors[merchant.id.rawValue] ?? 0, volume: Self.amounts(merchant.volume),
                    sparkline: Self.sparkline(merchant.daily),
                    sparklineLabel: "Paid payments per day, last 14 days: " + merchant.daily.map(String.init).joined(separator: ", "))
            },
            hasMerchants: !merchants.isEmpty, query: query,
            sorts: [("volume", "Volume"), ("declines", "Declines"), ("errors", "API errors")].map {
                SortOption(value: $0.0, label: $0.1, selected: $0.0 == sort)
            },
            count: VolumeChart.plural(merchants.count, "merchant"))
        return renderer.page("ops/index", title: "Platform", view, context: context)
    }

    static func window(_ label: String, _ window: OpsStats.Window) -> WindowView {
        let p99 = window.quantile(0.99)
        return WindowView(
            label: label, checkouts: String(window.checkouts), perSecond: VolumeChart.fixed(window.checkoutsPerSecond),
            successRate: window.successRate.map(VolumeChart.percent) ?? "—", p50: milliseconds(window.quantile(0.5)), p99: milliseconds(p99),
            errorRate: window.errorRate.map(VolumeChart.percent) ?? "—", slow: (p99 ?? 0) > 0.1, failing: (window.errorRate ?? 0) > 0.001)
    }

    static func milliseconds(_ seconds: Double?) -> String {
        seconds.map { "\(Int(($0 * 1000).rounded())) ms" } ?? "—"
    }

    /// One formatted amount per currency, in code order.
    static func amountList(_ byCurrency: [String: Int64]) -> [String] {
        byCurrency.sorted { $0.key < $1.key }.compactMap { code, amount in
            Currency(code: code).map { Money(minorUnits: amount, currency: $0).formatted }
        }
    }

    static func amounts(_ byCurrency: [String: Int64]) -> String {
        let parts = amountList(byCurrency)
        return parts.isEmpty ? "—" : parts.joined(separator: " · ")
    }

    /// The points of a 70 × 20 polyline, oldest day first.
    static func sparkline(_ values: [Int]) -> String {
        let top = max(values.max() ?? 0, 1)
        let step = values.count > 1 ? 70.0 / Double(values.count - 1) : 0
        return values.enumerated().map { index, value in
            "\(VolumeChart.fixed(Double(index) * step)),\(VolumeChart.fixed(19 - 18 * Double(value) / Double(top)))"
        }.joined(separator: " ")
    }

    // MARK: one merchant

    struct StatusRow: Sendable {
        let status: String
        let count: Int
        /// One amount per currency.
        let amounts: [String]
    }

    struct DeclineRow: Sendable {
        let reason: String
        let count: Int
    }

    struct ErrorRow: Sendable {
        let at: String
        let request: String
        let status: Int
        let code: String
    }

    struct PersonRow: Sendable {
        let name: String
        let email: String
        let role: String
        let twoFactor: Bool
    }

    struct ActionRow: Sendable {
        let at: String
        let who: String
        let action: String
        let detail: String
        let reason: String
    }

    struct MerchantView: Sendable {
        let id: String
        let name: String
        let created: String
        let suspended: Bool
        let suspendedReason: String
        let suspendedAt: String
        let statuses: [StatusRow]
        let hasStatuses: Bool
        let declines: [DeclineRow]
        let hasDeclines: Bool
        let apiRequests: Int
        let apiErrors: Int
        let apiLastMinute: Int
        let apiLimit: Int
        let apiLimitIsDefault: Bool
        let apiShare: String
        let recentErrors: [ErrorRow]
        let hasRecentErrors: Bool
        let people: [PersonRow]
        let actions: [ActionRow]
        let hasActions: Bool
        let form: [String: String]
        let errors: [String: String]
        let summary: FormState.Summary?
    }

    func merchant(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await renderMerchant(try context.parameters.require("id", as: AccountID.self), state: FormState(), context: context, status: .ok)
    }

    private func renderMerchant(_ id: AccountID, state: FormState, context: AppRequestContext, status: HTTPResponse.Status) async throws -> Response {
        guard let detail = try await store.detail(id, today: Date()) else { throw HTTPError(.notFound) }
        let api = stats.account(id)
        let limit = detail.apiPerMinute ?? defaultAPIPerMinute
        let rules = try await payments.risk.rules(accountID: id)
        func text(_ value: Int?) -> String { value.map(String.init) ?? "" }
        var form: [String: String] = [:]
        form["api_per_minute"] = text(detail.apiPerMinute)
        form["velocity_card_per_hour"] = text(rules.velocityCardPerHour)
        form["velocity_email_per_hour"] = text(rules.velocityEmailPerHour)
        form["velocity_ip_per_hour"] = text(rules.velocityIPPerHour)
        form.merge(state.values) { _, given in given }
        let order = ["succeeded", "partially_refunded", "refunded", "authorized", "processing", "failed", "canceled", "expired", "requires_payment"]
        let statuses: [StatusRow] = order.compactMap { status in
            detail.byStatus[status].flatMap { entry in
                entry.count == 0
                    ? nil
                    : StatusRow(status: status, count: entry.count, amounts: Self.amountList(entry.amounts))
            }
        }
        let errorRows: [ErrorRow] = api.recentErrors.map {
            ErrorRow(at: Formats.dateTime($0.at), request: "\($0.method) \($0.route)", status: $0.status, code: $0.code)
        }
        let people: [PersonRow] = detail.people.map { PersonRow(name: $0.name, email: $0.email, role: $0.role, twoFactor: $0.twoFactor) }
        let actions: [ActionRow] = detail.actions.map {
            ActionRow(at: Formats.dateTime($0.at), who: $0.operatorEmail, action: $0.action, detail: $0.detail, reason: $0.reason)
        }
        let declines: [DeclineRow] = detail.declines.map { DeclineRow(reason: $0.reason, count: $0.count) }
        let share = VolumeChart.percent(Double(api.lastMinute) / Double(max(limit, 1)))
        let summary = state.summary(order: [
            "api_per_minute", "velocity_card_per_hour", "velocity_email_per_hour", "velocity_ip_per_hour", "reason", "suspend_reason",
            "resume_reason",
        ])
        let view = MerchantView(
            id: detail.id.rawValue, name: detail.name, created: Formats.date(detail.createdAt), suspended: detail.suspendedAt != nil,
            suspendedReason: detail.suspendedReason ?? "", suspendedAt: detail.suspendedAt.map(Formats.dateTime) ?? "",
            statuses: statuses, hasStatuses: !statuses.isEmpty, declines: declines, hasDeclines: !declines.isEmpty,
            apiRequests: api.requests, apiErrors: api.errors, apiLastMinute: api.lastMinute, apiLimit: limit,
            apiLimitIsDefault: detail.apiPerMinute == nil, apiShare: share, recentErrors: errorRows, hasRecentErrors: !errorRows.isEmpty,
            people: people, actions: actions, hasActions: !actions.isEmpty, form: form, errors: state.errors, summary: summary)
        return renderer.page("ops/merchant", title: detail.name, view, context: context, status: status)
    }

    // MARK: actions

    /// The reason every action needs: present, then the same rules as a refund's reason (at most
    /// 500 characters as PostgreSQL counts them, no NUL).
    static func reasonProblem(_ reason: String) -> String? {
        if reason.isEmpty { return "Say why: the merchant's people and the audit log see it." }
        return Payments.refundProblems(reason: reason).first?.message
    }

    private func actor(_ context: AppRequestContext) throws -> OpsStore.Operator {
        guard let session = context.session else { throw HTTPError(.notFound) }
        return OpsStore.Operator(id: session.userID, email: session.email)
    }

    func suspend(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await setSuspended(true, context: context)
    }

    func resume(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await setSuspended(false, context: context)
    }

    private func setSuspended(_ suspend: Bool, context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id", as: AccountID.self)
        let reason = (context.form["reason"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if let problem = Self.reasonProblem(reason) {
            var state = FormState()
            state.errors[suspend ? "suspend_reason" : "resume_reason"] = problem
            return try await renderMerchant(id, state: state, context: context, status: .unprocessableContent)
        }
        guard try await store.isMerchant(id) else { throw HTTPError(.notFound) }
        let who = try actor(context)
        if try await store.setSuspended(id, reason: suspend ? reason : nil, by: who, why: reason, client: context.remoteAddress) {
            suspensions.note(id, reason: suspend ? reason : nil)
            context.logger.notice(
                suspend ? "merchant suspended" : "merchant resumed", metadata: ["account_id": .string(id.rawValue), "operator": .string(who.id)])
        }
        return .redirect(to: "/ops/merchants/\(id)", flash: suspend ? .suspended : .resumed, secureCookies: secureCookies)
    }

    /// The API budget per minute and the checkout velocity limits (card, email and IP per hour),
    /// each blank for none (the API's: the server's default).
    func limits(_ request: Request, context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id", as: AccountID.self)
        let form = context.form
        let fields = ["api_per_minute", "velocity_card_per_hour", "velocity_email_per_hour", "velocity_ip_per_hour"]
        var state = FormState(values: Dictionary(uniqueKeysWithValues: fields.map { ($0, (form[$0] ?? "").trimmingCharacters(in: .whitespaces)) }))
        var numbers: [String: Int] = [:]
        for field in fields {
            let raw = state.values[field] ?? ""
            guard !raw.isEmpty else { continue }
            let range = field == "api_per_minute" ? 1...1_000_000 : 1...10_000
            guard raw.count <= 8, raw.allSatisfy(\.isASCII), let value = Int(raw), range.contains(value) else {
                state.errors[field] = "Enter a whole number from 1 to \(range.upperBound.formatted()), or leave it empty."
                continue
            }
            numbers[field] = value
        }
        let reason = (form["reason"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        state.values["reason"] = reason
        if let problem = Self.reasonProblem(reason) { state.errors["reason"] = problem }
        guard !state.hasErrors else { return try await renderMerchant(id, state: state, context: context, status: .unprocessableContent) }
        guard try await store.isMerchant(id) else { throw HTTPError(.notFound) }
        var rules = try await payments.risk.rules(accountID: id)
        rules.velocityCardPerHour = numbers["velocity_card_per_hour"]
        rules.velocityEmailPerHour = numbers["velocity_email_per_hour"]
        rules.velocityIPPerHour = numbers["velocity_ip_per_hour"]
        try await payments.risk.replace(accountID: id, with: rules)
        let detail = fields.map { "\($0)=\(numbers[$0].map(String.init) ?? "default")" }.joined(separator: " ")
        try await store.setAPILimit(
            id, perMinute: numbers["api_per_minute"], detail: detail, by: try actor(context), why: reason, client: context.remoteAddress)
        accountLimits.forget(id)
        return .redirect(to: "/ops/merchants/\(id)", flash: .limitsSaved, secureCookies: secureCookies)
    }
}

/// The console is for operators only: anyone else gets 404 (it does not say it exists), and an
/// operator without two-factor sign-in is sent to turn it on first.
struct OperatorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let twoFactor: TwoFactor
    let secureCookies: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let session = context.session, session.isOperator else { throw HTTPError(.notFound) }
        guard try await twoFactor.isEnabled(userID: session.userID) else {
            return .redirect(to: "/settings/security", flash: .operatorNeedsTwoFactor, secureCookies: secureCookies)
        }
        return try await next(request, context)
    }
}

// Views rendered by name, not through Mirror (see `ViewParity`).
extension OpsController.WindowView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "label": self.label
        case "checkouts": self.checkouts
        case "perSecond": self.perSecond
        case "successRate": self.successRate
        case "p50": self.p50
        case "p99": self.p99
        case "errorRate": self.errorRate
        case "slow": self.slow
        case "failing": self.failing
        default: nil
        }
    }
}

extension OpsController.LagView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "consumer": self.consumer
        case "seconds": self.seconds
        case "late": self.late
        default: nil
        }
    }
}

extension OpsController.CircuitView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "issuer": self.issuer
        case "open": self.open
        default: nil
        }
    }
}

extension OpsController.MerchantRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "name": self.name
        case "url": self.url
        case "suspended": self.suspended
        case "paid": self.paid
        case "declined": self.declined
        case "apiErrors": self.apiErrors
        case "volume": self.volume
        case "sparkline": self.sparkline
        case "sparklineLabel": self.sparklineLabel
        default: nil
        }
    }
}

extension OpsController.IndexView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "windows": self.windows
        case "lags": self.lags
        case "circuits": self.circuits
        case "hasCircuits": self.hasCircuits
        case "merchants": self.merchants
        case "hasMerchants": self.hasMerchants
        case "query": self.query
        case "sorts": self.sorts
        case "count": self.count
        default: nil
        }
    }
}

extension OpsController.StatusRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "status": self.status
        case "count": self.count
        case "amounts": self.amounts
        default: nil
        }
    }
}

extension OpsController.DeclineRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "reason": self.reason
        case "count": self.count
        default: nil
        }
    }
}

extension OpsController.ErrorRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "at": self.at
        case "request": self.request
        case "status": self.status
        case "code": self.code
        default: nil
        }
    }
}

extension OpsController.PersonRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "name": self.name
        case "email": self.email
        case "role": self.role
        case "twoFactor": self.twoFactor
        default: nil
        }
    }
}

extension OpsController.ActionRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "at": self.at
        case "who": self.who
        case "action": self.action
        case "detail": self.detail
        case "reason": self.reason
        default: nil
        }
    }
}

extension OpsController.MerchantView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": self.id
        case "name": self.name
        case "created": self.created
        case "suspended": self.suspended
        case "suspendedReason": self.suspendedReason
        case "suspendedAt": self.suspendedAt
        case "statuses": self.statuses
        case "hasStatuses": self.hasStatuses
        case "declines": self.declines
        case "hasDeclines": self.hasDeclines
        case "apiRequests": self.apiRequests
        case "apiErrors": self.apiErrors
        case "apiLastMinute": self.apiLastMinute
        case "apiLimit": self.apiLimit
        case "apiLimitIsDefault": self.apiLimitIsDefault
        case "apiShare": self.apiShare
        case "recentErrors": self.recentErrors
        case "hasRecentErrors": self.hasRecentErrors
        case "people": self.people
        case "actions": self.actions
        case "hasActions": self.hasActions
        case "form": self.form
        case "errors": self.errors
        case "summary": self.summary
        default: nil
        }
    }
}
