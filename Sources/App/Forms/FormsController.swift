import Foundation
import Hummingbird
import PaymentCore

/// `/forms`: business payment forms to embed — list, create, show (preview and snippet), edit, archive.
struct FormsController: Sendable {
    let payments: Payments
    let renderer: Renderer
    let baseURL: String
    let secureCookies: Bool

    func addRoutes(to router: RouterGroup<MerchantContext>) {
        router.get("/forms", use: self.list)
        router.get("/forms/new", use: self.new)
        router.post("/forms", use: self.create)
        router.get("/forms/:id", use: self.show)
        router.get("/forms/:id/edit", use: self.edit)
        router.post("/forms/:id", use: self.update)
        router.post("/forms/:id/archive", use: self.archive)
    }

    static let customFieldRows = 4
    static let fieldOrder = [
        "title", "description", "currency", "amount", "min_amount", "max_amount", "fields", "allowed_origins", "redirect_url", "button_label",
        "brand_color", "max_uses", "expires_in_days", "realm",
    ]

    // MARK: view models

    struct Row: Sendable {
        let id: String
        let title: String
        let amount: String
        let status: String
        let statusClass: String
        let uses: String
    }

    struct ListView: Sendable {
        let forms: [Row]
        let hasForms: Bool
    }

    typealias Option = SelectOption

    struct FieldRow: Sendable {
        let index: Int
        let label: String
        let kinds: [Option]
        let required: Bool
        let options: String
        let error: String?
    }

    struct EditView: Sendable {
        let action: String
        let heading: String
        let submit: String
        let currencies: [Option]
        let payerChooses: Bool
        let requiresSession: Bool
        let manualCapture: Bool
        let fieldRows: [FieldRow]
        let expiries: [Option]
        let canCreate: Bool
        let form: [String: String]
        let errors: [String: String]
        let summary: FormState.Summary?
    }

    struct ShowView: Sendable {
        let id: String
        let title: String
        let amount: String
        let status: String
        let statusClass: String
        let open: Bool
        let snippet: String
        let link: String
        let origins: String
        let redirect: String?
        let payments: [PaymentsController.PaymentRow]
        let hasPayments: Bool
        let totals: [String]
    }

    static func amountText(_ form: PaymentForm) -> String {
        if let amount = form.amount { return Money(minorUnits: amount, currency: form.currency).formatted }
        let low = Money(minorUnits: form.minimum ?? 0, currency: form.currency).formatted
        let high = Money(minorUnits: form.maximum ?? 0, currency: form.currency).formatted
        return "\(low) – \(high), payer chooses"
    }

    static func status(_ form: PaymentForm) -> (String, String) {
        if form.archivedAt != nil { return ("Archived", "muted") }
        return form.isOpen(at: Date()) ? ("Active", "ok") : ("Closed", "muted")
    }

    // MARK: list and show

    func list(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let forms = try await payments.forms.list(accountID: session.accountID)
        return renderer.page(
            "forms/index",
            title: "Payment forms",
            ListView(
                forms: forms.map { form in
                    let (status, statusClass) = Self.status(form)
                    return Row(
                        id: form.id.rawValue, title: form.title, amount: Self.amountText(form), status: status, statusClass: statusClass,
                        uses: form.maxUses.map { "\(form.uses) of \($0)" } ?? "\(form.uses)"
                    )
                },
                hasForms: !forms.isEmpty
            ),
            context: context
        )
    }

    func show(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let id = try context.parameters.require("id", as: FormID.self)
        guard let form = try await payments.forms.find(accountID: session.accountID, id: id) else { throw HTTPError(.notFound) }
        let page = try await payments.history.listing(accountID: session.accountID, filter: .init(formID: id), limit: 25)
        let totals = try await payments.history.totals(accountID: session.accountID, filter: .init(formID: id))
        let (status, statusClass) = Self.status(form)
        return renderer.page(
            "forms/show",
            title: form.title,
            ShowView(
                id: form.id.rawValue, title: form.title, amount: Self.amountText(form), status: status, statusClass: statusClass,
                open: form.isOpen(at: Date()),
                snippet: #"<script src="\#(baseURL)/embed.js" data-kassa-form="\#(form.id)"></script>"#,
                link: "\(baseURL)/embed/forms/\(form.id)",
                origins: form.allowedOrigins.isEmpty ? "None yet: the form opens only as a link." : form.allowedOrigins.joined(separator: ", "),
                redirect: form.redirectURL,
                payments: page.payments.map(PaymentsController.row), hasPayments: !page.payments.isEmpty,
                totals: totals.map { "\($0.net.formatted) net · \($0.count) payment\($0.count == 1 ? "" : "s")" }
            ),
            context: context
        )
    }

    // MARK: create and edit

    func new(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let state = FormState(values: ["amount_mode": "fixed", "button_label": "Pay", "brand_color": "#1f5f8b"])
        return try await renderEditor(accountID: session.accountID, formID: nil, state: state, context: context, status: .ok)
    }

    func edit(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let id = try context.parameters.require("id", as: FormID.self)
        guard let form = try await payments.forms.find(accountID: session.accountID, id: id) else { throw HTTPError(.notFound) }
        var values: [String: String] = [
            "title": form.title, "description": form.description, "currency": form.currency.code,
            "amount_mode": form.amount == nil ? "payer" : "fixed",
            "amount": form.amount.map { Money(minorUnits: $0, currency: form.currency).decimalString } ?? "",
            "min_amount": form.minimum.map { Money(minorUnits: $0, currency: form.currency).decimalString } ?? "",
            "max_amount": form.maximum.map { Money(minorUnits: $0, currency: form.currency).decimalString } ?? "",
            "allowed_origins": form.allowedOrigins.joined(separator: "\n"), "redirect_url": form.redirectURL ?? "",
            "button_label": form.buttonLabel, "brand_color": form.brandColor, "max_uses": form.maxUses.map(String.init) ?? "",
            "requires_session": form.requiresSession ? "on" : "", "realm": form.realm ?? "",
            "manual_capture": form.captureMethod == .manual ? "on" : "",
        ]
        for (index, field) in form.fields.enumerated() where index < Self.customFieldRows {
            let n = index + 1
            values["field_label_\(n)"] = field.label
            values["field_kind_\(n)"] = field.kind.rawValue
            values["field_required_\(n)"] = field.required ? "on" : ""
            values["field_options_\(n)"] = field.options.joined(separator: ", ")
        }
        return try await renderEditor(
            accountID: session.accountID, formID: id.rawValue, state: FormState(values: values), context: context, status: .ok)
    }

    func create(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let (state, draft) = try await read(context.form, accountID: session.accountID)
        guard let draft else {
            return try await renderEditor(accountID: session.accountID, formID: nil, state: state, context: context, status: .unprocessableContent)
        }
        let form = try await payments.forms.create(accountID: session.accountID, draft)
        context.logger.info("payment form created", metadata: ["payment_form_id": .string(form.id.rawValue)])
        return .redirect(to: "/forms/\(form.id)", flash: .formSaved, secureCookies: secureCookies)
    }

    func update(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let id = try context.parameters.require("id", as: FormID.self)
        guard try await payments.forms.find(accountID: session.accountID, id: id) != nil else { throw HTTPError(.notFound) }
        let (state, draft) = try await read(context.form, accountID: session.accountID)
        guard let draft else {
            return try await renderEditor(
                accountID: session.accountID, formID: id.rawValue, state: state, context: context, status: .unprocessableContent)
        }
        _ = try await payments.forms.update(accountID: session.accountID, id: id, draft)
        return .redirect(to: "/forms/\(id)", flash: .formSaved, secureCookies: secureCookies)
    }

    func archive(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let id = try context.parameters.require("id", as: FormID.self)
        do {
            _ = try await payments.forms.archive(accountID: session.accountID, id: id)
        } catch PaymentError.notFound {
            throw HTTPError(.notFound)
        }
        return .redirect(to: "/forms/\(id)", flash: .formArchived, secureCookies: secureCookies)
    }

    /// Reads the editor's fields; returns the draft when everything is right.
    func read(_ form: FormData, accountID: AccountID) async throws -> (FormState, PaymentForms.Draft?) {
        var state = FormState()
        for name in [
            "title", "description", "currency", "amount_mode", "amount", "min_amount", "max_amount", "redirect_url", "button_label", "brand_color",
            "max_uses", "expires_in_days", "requires_session", "realm", "manual_capture",
        ] {
            state.values[name] = form[name] ?? ""
        }
        state.values["realm"] = state.values["realm"]?.trimmingCharacters(in: .whitespaces)
        state.values["allowed_origins"] = form.raw("allowed_origins") ?? ""
        for n in 1...Self.customFieldRows {
            for prefix in ["field_label_", "field_kind_", "field_required_", "field_options_"] {
                state.values["\(prefix)\(n)"] = form["\(prefix)\(n)"] ?? ""
            }
        }
        let values = state.values
        // What the editor's text says; the form's rules are PaymentForms.problems.
        let currency = Currency(code: values["currency"] ?? "")
        if currency == nil { state.errors["currency"] = "Choose one of the currencies your payment methods accept." }

        var amount: Int64? = nil, minimum: Int64? = nil, maximum: Int64? = nil
        func money(_ name: String) -> Int64? {
            guard let currency else { return nil }
            do {
                return try Money.parse(values[name] ?? "", currency: currency, maximum: .max).minorUnits
            } catch {
                state.errors[name] = error.description
                return nil
            }
        }
        let payerChooses = values["amount_mode"] == "payer"
        if payerChooses {
            minimum = money("min_amount")
            maximum = money("max_amount")
        } else {
            amount = money("amount")
        }

        var fields: [FormField] = []
        for n in 1...Self.customFieldRows {
            let label = values["field_label_\(n)"] ?? ""
            guard !label.isEmpty else { continue }
            guard let kind = FormField.Kind(rawValue: values["field_kind_\(n)"] ?? "") else {
                state.errors["fields"] = "Field \(n): choose its kind."
                continue
            }
            let options = (values["field_options_\(n)"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty
            }
            fields.append(
                FormField(
                    key: "f\(n)", label: label, kind: kind, required: values["field_required_\(n)"] == "on", options: kind == .select ? options : []))
        }

        var origins: [String] = []
        for line in (values["allowed_origins"] ?? "").split(whereSeparator: \.isNewline) {
            let text = line.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty else { continue }
            guard let origin = FormRules.origin(text) else {
                state.errors["allowed_origins"] =
                    "“\(text)” is not an origin. Use https://shop.example (http only for localhost), one per line, without a path."
                break
            }
            if !origins.contains(origin) { origins.append(origin) }
        }

        let redirect = values["redirect_url"] ?? ""
        if !redirect.isEmpty && !FormRules.redirectIsAllowed(redirect, origins: origins) {
            state.errors["redirect_url"] = "Use an https address, or one on an allowed origin."
        }
        let button = values["button_label"].flatMap { $0.isEmpty ? nil : $0 } ?? "Pay"
        let color = FormRules.color(values["brand_color"].flatMap { $0.isEmpty ? nil : $0 } ?? "#1f5f8b")
        if color == nil { state.errors["brand_color"] = "Use a colour like #1f5f8b." }
        var maxUses: Int? = nil
        if let raw = values["max_uses"], !raw.isEmpty {
            if let number = Int(raw) {
                maxUses = number
            } else {
                state.errors["max_uses"] = "Enter a whole number from 1 to 1,000,000, or leave it empty."
            }
        }
        var expiresAt: Date? = nil
        if let raw = values["expires_in_days"], !raw.isEmpty {
            if let days = Int(raw), [7, 30, 90, 365].contains(days) {
                expiresAt = Date().addingTimeInterval(Double(days) * 86400)
            } else {
                state.errors["expires_in_days"] = "Choose from the list."
            }
        }
        // Where the text did not parse, a stand-in lets the rules speak of every other field.
        let draft = PaymentForms.Draft(
            title: values["title"] ?? "", description: values["description"] ?? "", currency: currency ?? .eur,
            amount: payerChooses ? nil : amount ?? 1, minimum: payerChooses ? minimum ?? 1 : nil,
            maximum: payerChooses ? maximum ?? max(minimum ?? 1, 1) : nil, fields: fields, allowedOrigins: origins,
            redirectURL: redirect.isEmpty ? nil : redirect, buttonLabel: button, brandColor: color ?? "#1f5f8b",
            requiresSession: values["requires_session"] == "on", maxUses: maxUses, expiresAt: expiresAt,
            realm: values["realm"].flatMap { $0.isEmpty ? nil : $0 }, captureMethod: values["manual_capture"] == "on" ? .manual : .automatic
        )
        let accepted = try await payments.methods.acceptedCurrencies(accountID: accountID)
        for problem in PaymentForms.problems(draft, accepted: accepted, maximumAmount: payments.maximumAmount)
        where state.errors[problem.field] == nil && (currency != nil || problem.code != "no_payment_method_for_currency") {
            state.errors[problem.field] = problem.message
        }
        guard !state.hasErrors else { return (state, nil) }
        return (state, draft)
    }

    private func renderEditor(
        accountID: AccountID, formID: String?, state: FormState, context: MerchantContext, status: HTTPResponse.Status
    ) async throws -> Response {
        let accepted = try await payments.methods.acceptedCurrencies(accountID: accountID).sorted()
        let values = state.values
        let rows = (1...Self.customFieldRows).map { n in
            FieldRow(
                index: n, label: values["field_label_\(n)"] ?? "",
                kinds: FormField.Kind.allCases.map {
                    Option(value: $0.rawValue, label: $0.rawValue, selected: values["field_kind_\(n)"] == $0.rawValue)
                },
                required: values["field_required_\(n)"] == "on", options: values["field_options_\(n)"] ?? "", error: nil
            )
        }
        let expiry = values["expires_in_days"] ?? ""
        return renderer.page(
            "forms/edit",
            title: formID == nil ? "New payment form" : "Edit payment form",
            EditView(
                action: formID.map { "/forms/\($0)" } ?? "/forms", heading: formID == nil ? "New payment form" : "Edit payment form",
                submit: formID == nil ? "Create form" : "Save changes",
                currencies: accepted.map { Option(value: $0.code, label: "\($0.code) — \($0.name)", selected: $0.code == values["currency"]) },
                payerChooses: values["amount_mode"] == "payer", requiresSession: values["requires_session"] == "on",
                manualCapture: values["manual_capture"] == "on", fieldRows: rows,
                expiries: [("", "Never"), ("7", "In 7 days"), ("30", "In 30 days"), ("90", "In 90 days"), ("365", "In a year")].map {
                    Option(value: $0.0, label: $0.1, selected: $0.0 == expiry)
                },
                canCreate: !accepted.isEmpty, form: values, errors: state.errors, summary: state.summary(order: Self.fieldOrder)
            ),
            context: context,
            status: status
        )
    }
}
