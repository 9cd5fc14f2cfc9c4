import Foundation
import Hummingbird
import Mustache
import PaymentCore

/// `/links`: the merchant's payment links — list, create, show (URL and QR code), revoke.
struct LinksController: Sendable {
    let payments: Payments
    let signer: LinkSigner
    let renderer: Renderer
    let baseURL: String
    let secureCookies: Bool

    func addRoutes(to router: RouterGroup<MerchantContext>) {
        router.get("/links", use: self.list)
        router.get("/links/new", use: self.new)
        router.post("/links", use: self.create)
        router.get("/links/:id", use: self.show)
        router.get("/links/:id/qr.svg", use: self.qrCode)
        router.get("/links/:id/qr.png", use: self.qrCode)
        router.post("/links/:id/revoke", use: self.revoke)
    }

    // MARK: view models

    struct LinkRow: Sendable {
        let id: String
        let description: String
        let amount: String
        let status: String
        let statusClass: String
        let uses: String
        let expires: String
    }

    struct ListView: Sendable {
        let links: [LinkRow]
        let hasLinks: Bool
        let filters: [Option]
        let filtered: Bool
    }

    typealias Option = SelectOption

    struct NewView: Sendable {
        let currencies: [Option]
        let lifetimes: [Option]
        let methods: [Option]
        let canCreate: Bool
        let multiUse: Bool
        let manualCapture: Bool
        let form: [String: String]
        let errors: [String: String]
        let summary: FormState.Summary?
    }

    struct ShowView: Sendable {
        let id: String
        let description: String
        let amount: String
        let status: String
        let statusClass: String
        let uses: String
        let expires: String
        let created: String
        let url: String
        /// Trusted: drawn by `QRCode.svg` from our own URL, no user text inside.
        let qrSVG: String
        let active: Bool
        let methods: String
        let realm: String?
        let payments: [PaymentsController.PaymentRow]
        let hasPayments: Bool
    }

    static let fields = ["amount", "currency", "description", "expires_in", "max_uses", "payment_methods", "realm", "capture_method"]
    static let lifetimes: [(Int, String)] = [
        (3600, "1 hour"), (6 * 3600, "6 hours"), (86400, "1 day"), (3 * 86400, "3 days"), (7 * 86400, "7 days"),
        (14 * 86400, "14 days"), (30 * 86400, "30 days"), (60 * 86400, "60 days"), (90 * 86400, "90 days"),
    ]

    // MARK: list

    func list(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let raw = request.uri.queryParameters["status"].map(String.init) ?? ""
        let status = LinkStatus(rawValue: raw)
        let links = try await payments.links.list(accountID: session.accountID, status: status)
        let now = Date()
        let filters =
            [Option(value: "", label: "All", selected: status == nil)]
            + LinkStatus.allCases.map { Option(value: $0.rawValue, label: $0.label, selected: $0 == status) }
        return renderer.page(
            "links/index",
            title: "Payment links",
            ListView(links: links.map { Self.row($0, now: now) }, hasLinks: !links.isEmpty, filters: filters, filtered: status != nil),
            context: context
        )
    }

    static func row(_ link: PaymentLink, now: Date) -> LinkRow {
        let status = link.status(at: now)
        return LinkRow(
            id: link.id.rawValue, description: link.description, amount: link.amount.formatted, status: status.label,
            statusClass: statusClass(status), uses: "\(link.uses) of \(link.maxUses)", expires: Formats.date(link.expiresAt)
        )
    }

    static func statusClass(_ status: LinkStatus) -> String {
        switch status {
        case .active: "ok"
        case .completed: "info"
        case .expired, .revoked: "muted"
        }
    }

    // MARK: create

    func new(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        return try await renderNew(
            accountID: session.accountID, state: FormState(values: ["expires_in": String(PaymentLinks.defaultLifetime)]), context: context,
            status: .ok)
    }

    func create(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let form = context.form
        var state = FormState(values: [
            "amount": form["amount"] ?? "", "currency": (form["currency"] ?? "").uppercased(), "description": form["description"] ?? "",
            "expires_in": form["expires_in"] ?? "", "uses": form["uses"] ?? "single", "max_uses": form["max_uses"] ?? "",
            "payment_methods": form.all("payment_methods").joined(separator: ","),
            "realm": (form["realm"] ?? "").trimmingCharacters(in: .whitespaces),
            "capture_method": form["capture_method"] ?? "automatic",
        ])
        let capture = CaptureMethod(rawValue: state.values["capture_method"] ?? "")
        if capture == nil { state.errors["capture_method"] = "Choose when the money is taken." }
        let methods = try await payments.methods.list(accountID: session.accountID)

        // What the form's text says; the link's rules are PaymentLinks.problems, shared with the API.
        let currency = Currency(code: state.values["currency"] ?? "")
        if currency == nil { state.errors["currency"] = "Choose one of the currencies your payment methods accept." }
        var amount: Money? = nil
        if let currency {
            do {
                // Only the text's form here: the largest amount is one of the link's rules.
                amount = try Money.parse(state.values["amount"] ?? "", currency: currency, maximum: .max)
            } catch {
                state.errors["amount"] = error.description
            }
        } else if (state.values["amount"] ?? "").isEmpty {
            state.errors["amount"] = Money.ParseError.empty.description
        }
        let draft = PaymentLinks.NewLink(
            amount: amount ?? Money(minorUnits: 1, currency: currency ?? .eur), description: state.values["description"] ?? "",
            expiresIn: Int(state.values["expires_in"] ?? "") ?? -1,
            maxUses: state.values["uses"] == "multiple" ? Int(state.values["max_uses"] ?? "") ?? 0 : 1,
            paymentMethodIDs: form.all("payment_methods").map { MethodID(rawValue: $0) },
            realm: state.values["realm"].flatMap { $0.isEmpty ? nil : $0 }, captureMethod: capture ?? .automatic
        )
        // A field whose text did not parse keeps that message; rules about a currency are moot without one.
        for problem in PaymentLinks.problems(draft, methods: methods, maximumAmount: payments.maximumAmount)
        where state.errors[problem.field] == nil && (currency != nil || problem.code != "no_payment_method_for_currency") {
            state.errors[problem.field] = problem.message
        }
        guard !state.hasErrors else {
            return try await renderNew(accountID: session.accountID, state: state, context: context, status: .unprocessableContent)
        }
        do {
            let link = try await payments.links.create(accountID: session.accountID, draft)
            context.logger.info("payment link created", metadata: ["payment_link_id": .string(link.id.rawValue)])
            return .redirect(to: "/links/\(link.id)", flash: .linkCreated, secureCookies: secureCookies)
        } catch let refused as FieldProblems {
            // The account's methods changed since they were read above.
            for problem in refused.problems { state.errors[problem.field] = problem.message }
        }
        return try await renderNew(accountID: session.accountID, state: state, context: context, status: .unprocessableContent)
    }

    private func renderNew(accountID: AccountID, state: FormState, context: MerchantContext, status: HTTPResponse.Status) async throws -> Response {
        let methods = try await payments.methods.list(accountID: accountID)
        let catalog = try await payments.catalog()
        let accepted = Set(methods.flatMap(\.currencies)).sorted()
        let chosenCurrency = state.values["currency"] ?? ""
        let chosenMethods = Set((state.values["payment_methods"] ?? "").split(separator: ",").map(String.init))
        let lifetime = state.values["expires_in"] ?? String(PaymentLinks.defaultLifetime)
        return renderer.page(
            "links/new",
            title: "New payment link",
            NewView(
                currencies: accepted.map { Option(value: $0.code, label: "\($0.code) — \($0.name)", selected: $0.code == chosenCurrency) },
                lifetimes: Self.lifetimes.map { Option(value: String($0.0), label: $0.1, selected: String($0.0) == lifetime) },
                methods: methods.map { method in
                    let issuer = catalog.issuer(id: method.issuerID)
                    return Option(
                        value: method.id.rawValue,
                        label: "\(issuer?.name ?? method.issuerID) (\(method.currencies.map(\.code).joined(separator: ", ")))",
                        selected: chosenMethods.contains(method.id.rawValue)
                    )
                },
                canCreate: !methods.isEmpty,
                multiUse: state.values["uses"] == "multiple", manualCapture: state.values["capture_method"] == "manual",
                form: state.values, errors: state.errors, summary: state.summary(order: Self.fields)
            ),
            context: context,
            status: status
        )
    }

    // MARK: show and revoke

    /// The link's QR code as an SVG or PNG file to download (print it, put it on a counter).
    func qrCode(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let id = try context.parameters.require("id", as: LinkID.self)
        guard let link = try await payments.links.find(accountID: session.accountID, id: id), link.status(at: Date()) == .active
        else { throw HTTPError(.notFound) }
        let url = baseURL + signer.path(linkID: link.id, expiresAt: Int64(link.expiresAt.timeIntervalSince1970))
        let png = request.uri.path.hasSuffix(".png")
        let body: ByteBuffer
        if png {
            guard let bytes = QRCode.png(url) else { throw HTTPError(.notFound) }
            body = ByteBuffer(bytes: bytes)
        } else {
            guard let svg = QRCode.svg(url) else { throw HTTPError(.notFound) }
            body = ByteBuffer(string: #"<?xml version="1.0" encoding="UTF-8"?>"# + "\n" + svg)
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: png ? "image/png" : "image/svg+xml", .cacheControl: "no-store",
                .contentDisposition: "attachment; filename=\"kassa-\(link.id).\(png ? "png" : "svg")\"",
            ],
            body: .init(byteBuffer: body)
        )
    }

    func show(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let id = try context.parameters.require("id", as: LinkID.self)
        guard let link = try await payments.links.find(accountID: session.accountID, id: id) else { throw HTTPError(.notFound) }
        let url = baseURL + signer.path(linkID: link.id, expiresAt: Int64(link.expiresAt.timeIntervalSince1970))
        let page = try await payments.history.listing(accountID: session.accountID, filter: .init(linkID: link.id), limit: 50)
        let catalog = try await payments.catalog()
        let methods = try await payments.methods.list(accountID: session.accountID).filter { link.paymentMethodIDs.contains($0.id) }
        let status = link.status(at: Date())
        return renderer.page(
            "links/show",
            title: link.description,
            ShowView(
                id: link.id.rawValue, description: link.description, amount: link.amount.formatted, status: status.label,
                statusClass: Self.statusClass(status), uses: "\(link.uses) of \(link.maxUses)", expires: Formats.dateTime(link.expiresAt),
                created: Formats.dateTime(link.createdAt), url: url, qrSVG: QRCode.svg(url) ?? "", active: status == .active,
                methods: methods.isEmpty
                    ? "Every method you accept in \(link.amount.currency.code)"
                    : methods.compactMap { catalog.issuer(id: $0.issuerID)?.name }.joined(separator: ", "),
                realm: link.realm,
                payments: page.payments.map(PaymentsController.row), hasPayments: !page.payments.isEmpty
            ),
            context: context
        )
    }

    func revoke(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let id = try context.parameters.require("id", as: LinkID.self)
        do {
            _ = try await payments.links.revoke(accountID: session.accountID, id: id)
        } catch PaymentError.linkNotFound {
            throw HTTPError(.notFound)
        }
        context.logger.info("payment link revoked", metadata: ["payment_link_id": .string(id.rawValue)])
        return .redirect(to: "/links/\(id)", flash: .linkRevoked, secureCookies: secureCookies)
    }
}

extension LinksController.LinkRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": id
        case "description": description
        case "amount": amount
        case "status": status
        case "statusClass": statusClass
        case "uses": uses
        case "expires": expires
        default: nil
        }
    }
}
