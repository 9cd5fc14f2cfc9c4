import Foundation
import Hummingbird
import PaymentCore

/// The merchant's risk rules: `/settings/risk` (owners change them) and `GET`/`PUT /v1/risk_rules`,
/// both through `RiskStore.replace`, which checks all of it first. And "Mark as fraud" on a
/// payment's page (admins), which blocks its card and email.
struct RiskController: Sendable {
    let risk: RiskStore
    let renderer: Renderer
    let audit: AuditLog
    let secureCookies: Bool

    func addMerchantRoutes(to router: RouterGroup<MerchantContext>) {
        router.get("/settings/risk", use: self.show)
        router.post("/settings/risk", use: self.save)
        router.post("/payments/:id/fraud", use: self.markFraud)
    }

    func addAPIRoutes(to routes: APIRoutes) {
        routes.needing("payments:read").get("risk_rules", use: self.showJSON)
        routes.needing("payments:write").put("risk_rules", use: self.replaceJSON)
    }

    // MARK: the API

    static func json(_ rules: RiskRules) -> JSON {
        .object([
            ("object", "risk_rules"), ("max_amount", rules.maxAmount.map { .int($0) } ?? .null),
            ("velocity_card_per_hour", rules.velocityCardPerHour.map { .int(Int64($0)) } ?? .null),
            ("velocity_email_per_hour", rules.velocityEmailPerHour.map { .int(Int64($0)) } ?? .null),
            ("velocity_ip_per_hour", rules.velocityIPPerHour.map { .int(Int64($0)) } ?? .null),
            ("blocked_countries", .array(rules.blockedCountries.map { .string($0) })),
            ("blocked_emails", .array(rules.blockedEmails.map { .string($0) })),
            ("blocked_cards", .int(Int64(rules.blockedCards.count))),
            ("score_threshold", rules.scoreThreshold.map { .int(Int64($0)) } ?? .null),
        ])
    }

    func showJSON(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        return Self.json(try await risk.rules(accountID: client.accountID)).response()
    }

    /// Replaces the rules whole: a rule left out or null is off. Nothing changes unless all of it holds.
    func replaceJSON(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        guard buffer.readableBytes > 0 else {
            throw APIError(
                status: .badRequest, type: "invalid_request_error", code: "body_missing",
                message: "Send the rules as a JSON object; a rule left out or null is off.", param: nil)
        }
        let body = try JSONBody(
            buffer,
            allowed: [
                "max_amount", "velocity_card_per_hour", "velocity_email_per_hour", "velocity_ip_per_hour", "blocked_countries", "blocked_emails",
                "score_threshold",
            ])
        func small(_ name: String) throws -> Int? {
            guard let value = try body.integer(name) else { return nil }
            guard let small = Int(exactly: value), (Int(Int32.min)...Int(Int32.max)).contains(small) else {
                throw APIError.invalid(name, "`\(name)` is out of range.")
            }
            return small
        }
        var current = try await risk.rules(accountID: client.accountID)
        current.maxAmount = try body.integer("max_amount")
        current.velocityCardPerHour = try small("velocity_card_per_hour")
        current.velocityEmailPerHour = try small("velocity_email_per_hour")
        current.velocityIPPerHour = try small("velocity_ip_per_hour")
        let countries = try body.strings("blocked_countries") ?? []
        if let wrong = countries.first(where: { !RiskRules.isCountryCode($0) }) {
            throw APIError.invalid("blocked_countries", "`\(wrong)` is not a two-letter country code such as RU.")
        }
        current.blockedCountries = countries.map { $0.uppercased() }
        current.blockedEmails = (try body.strings("blocked_emails") ?? []).map { $0.lowercased() }
        current.scoreThreshold = try small("score_threshold")
        try await risk.replace(accountID: client.accountID, with: current)
        await audit.record(
            accountID: client.accountID, userID: nil, actor: "API key \(client.keyID)", action: "risk.rules_changed", client: context.remoteAddress)
        return Self.json(try await risk.rules(accountID: client.accountID)).response()
    }

    // MARK: the page

    struct PageView: Sendable {
        let form: [String: String]
        let errors: [String: String]
        let summary: FormState.Summary?
        let blockedCards: Int
        let suggested: [String: String]
    }

    static let fields = [
        "max_amount", "velocity_card_per_hour", "velocity_email_per_hour", "velocity_ip_per_hour", "blocked_countries", "blocked_emails",
        "score_threshold",
    ]

    static func values(_ rules: RiskRules) -> [String: String] {
        [
            "max_amount": rules.maxAmount.map(String.init) ?? "", "velocity_card_per_hour": rules.velocityCardPerHour.map(String.init) ?? "",
            "velocity_email_per_hour": rules.velocityEmailPerHour.map(String.init) ?? "",
            "velocity_ip_per_hour": rules.velocityIPPerHour.map(String.init) ?? "",
            "blocked_countries": rules.blockedCountries.joined(separator: ", "),
            "blocked_emails": rules.blockedEmails.joined(separator: ", "), "score_threshold": rules.scoreThreshold.map(String.init) ?? "",
        ]
    }

    func show(_ request: Request, context: MerchantContext) async throws -> Response {
        let rules = try await risk.rules(accountID: context.session.accountID)
        return render(context, values: Self.values(rules), errors: [:], blockedCards: rules.blockedCards.count, status: .ok)
    }

    private func render(
        _ context: MerchantContext, values: [String: String], errors: [String: String], blockedCards: Int, status: HTTPResponse.Status
    )
        -> Response
    {
        var state = FormState(values: values)
        state.errors = errors
        return renderer.page(
            "risk/settings", title: "Risk rules",
            PageView(
                form: values, errors: errors, summary: state.summary(order: Self.fields), blockedCards: blockedCards,
                suggested: Self.values(RiskRules.suggested)),
            context: context, status: status)
    }

    /// Reads the form: numbers where numbers go (empty is off), lists split on commas and spaces.
    func save(_ request: Request, context: MerchantContext) async throws -> Response {
        let form = context.form
        var values: [String: String] = [:]
        for field in Self.fields { values[field] = (form[field] ?? "").trimmingCharacters(in: .whitespaces) }
        var errors: [String: String] = [:]
        func number(_ field: String) -> Int64? {
            let text = values[field] ?? ""
            guard !text.isEmpty else { return nil }
            guard let value = Int64(text), value > 0 else {
                errors[field] = "Enter a whole number above zero, or leave it empty."
                return nil
            }
            return value
        }
        func list(_ field: String) -> [String] {
            (values[field] ?? "").split(whereSeparator: { $0 == "," || $0.isWhitespace }).map(String.init)
        }
        var current = try await risk.rules(accountID: context.session.accountID)
        current.maxAmount = number("max_amount")
        current.velocityCardPerHour = number("velocity_card_per_hour").map { Int(clamping: $0) }
        current.velocityEmailPerHour = number("velocity_email_per_hour").map { Int(clamping: $0) }
        current.velocityIPPerHour = number("velocity_ip_per_hour").map { Int(clamping: $0) }
        let countries = list("blocked_countries")
        if countries.contains(where: { !RiskRules.isCountryCode($0) }) {
            errors["blocked_countries"] = "List two-letter country codes such as RU or NG."
        }
        current.blockedCountries = countries.filter(RiskRules.isCountryCode).map { $0.uppercased() }
        current.blockedEmails = list("blocked_emails").map { $0.lowercased() }
        current.scoreThreshold = number("score_threshold").map { Int(clamping: $0) }
        for problem in RiskRules.problems(current) where errors[problem.field] == nil { errors[problem.field] = problem.message }
        guard errors.isEmpty else {
            return render(context, values: values, errors: errors, blockedCards: current.blockedCards.count, status: .unprocessableContent)
        }
        try await risk.replace(accountID: context.session.accountID, with: current)
        await audit.record(context.session, "risk.rules_changed", client: context.request.remoteAddress)
        return .redirect(to: "/settings/risk", flash: .riskSaved, secureCookies: secureCookies)
    }

    /// Blocks the payment's card and email for the merchant's next checkouts.
    func markFraud(_ request: Request, context: MerchantContext) async throws -> Response {
        let id = try context.parameters.require("id", as: PaymentID.self)
        guard try await risk.markFraud(accountID: context.session.accountID, paymentID: id) else { throw HTTPError(.notFound) }
        await audit.record(context.session, "payment.marked_fraud", detail: id.rawValue, client: context.request.remoteAddress)
        return .redirect(to: "/payments/\(id)", flash: .markedFraud, secureCookies: secureCookies)
    }
}
