import Foundation
import Hummingbird
import Mustache
import PaymentCore

/// `/settlements`: each closed UTC day per currency (gross, refunds, fees, net, status), and one
/// settlement's payments with a CSV export.
struct SettlementsController: Sendable {
    let settlements: Settlements
    let renderer: Renderer
    let secureCookies: Bool

    func addRoutes(to router: RouterGroup<MerchantContext>) {
        router.get("/settlements", use: self.list)
        router.get("/settlements/:id", use: self.show)
        router.get("/settlements/:id/payments.csv", use: self.csv)
        router.post("/settlements/fees", use: self.changeFees)
        router.post("/settlements/split", use: self.changeSplit)
    }

    struct Row: Sendable {
        let id: String
        let day: String
        let currency: String
        let realm: String?
        let gross: String
        let refunds: String
        let fees: String
        let net: String
        let count: Int
        let status: String
        let statusClass: String
    }

    struct ListView: Sendable {
        let settlements: [Row]
        let hasSettlements: Bool
        let nextURL: String?
        /// The fees as a sentence, and the form's values and errors.
        let feesText: String
        let splitByRealm: Bool
        let form: [String: String]
        let errors: [String: String]
        let summary: FormState.Summary?
    }

    struct ItemRow: Sendable {
        let id: String
        let date: String
        let description: String
        let kind: String
        let amount: String
        let status: String
        let statusClass: String
    }

    struct ShowView: Sendable {
        let settlement: Row
        let paidAt: String?
        let items: [ItemRow]
        let hasItems: Bool
        let csvURL: String
    }

    static func row(_ settlement: Settlement) -> Row {
        Row(
            id: settlement.id, day: Formats.isoDay(settlement.day), currency: settlement.net.currency.code, realm: settlement.realm,
            gross: settlement.gross.formatted,
            refunds: settlement.refunds.formatted, fees: settlement.fees.formatted, net: settlement.net.formatted, count: settlement.paymentCount,
            status: settlement.status.label, statusClass: settlement.status == .paid ? "ok" : "info")
    }

    func list(_ request: Request, context: MerchantContext) async throws -> Response {
        let before = request.uri.queryParameters["before"].map(String.init).flatMap { Identifier.isValid($0, prefix: "stl") ? $0 : nil }
        return try await render(context, before: before, state: nil, status: .ok)
    }

    private func render(_ context: MerchantContext, before: String?, state: FormState?, status: HTTPResponse.Status) async throws -> Response {
        let page = try await settlements.list(accountID: context.session.accountID, before: before)
        let fees = try await settlements.terms(accountID: context.session.accountID)
        let percent = Self.percentText(fees.basisPoints)
        return renderer.page(
            "settlements/index", title: "Settlements",
            ListView(
                settlements: page.settlements.map(Self.row), hasSettlements: !page.settlements.isEmpty,
                nextURL: page.hasMore ? page.settlements.last.map { "/settlements?before=\($0.id)" } : nil,
                feesText: (fees.basisPoints, fees.fixedMinor) == (0, 0)
                    ? "No fees: each settlement pays out what it captured less its refunds."
                    : "\(percent)% of each captured payment plus \(fees.fixedMinor) in the currency's smallest unit (cents, for EUR and USD).",
                splitByRealm: fees.splitByRealm,
                form: state?.values ?? ["fee_percent": percent, "fee_fixed": String(fees.fixedMinor)], errors: state?.errors ?? [:],
                summary: state?.summary(order: ["fee_percent", "fee_fixed"])),
            context: context, status: status)
    }

    /// Basis points as a percentage with at most two decimals: 290 → "2.9".
    static func percentText(_ basisPoints: Int) -> String {
        let whole = basisPoints / 100
        let cents = basisPoints % 100
        if cents == 0 { return String(whole) }
        let decimals = cents % 10 == 0 ? String(cents / 10) : (cents < 10 ? "0" : "") + String(cents)
        return "\(whole).\(decimals)"
    }

    /// A percentage from 0 to 100 with at most two decimals, in basis points.
    static func basisPoints(_ text: String) -> Int? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !parts[0].isEmpty, parts[0].count <= 3, parts[0].allSatisfy(\.isASCII), let whole = Int(parts[0]),
            whole >= 0
        else { return nil }
        var fraction = 0
        if parts.count == 2 {
            guard (1...2).contains(parts[1].count), parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(parts[1]) else { return nil }
            fraction = parts[1].count == 1 ? value * 10 : value
        }
        let points = whole * 100 + fraction
        return points <= 10_000 ? points : nil
    }

    /// Owners choose whether days closed from now on settle each site (realm) apart.
    func changeSplit(_ request: Request, context: MerchantContext) async throws -> Response {
        try await settlements.setSplitByRealm(accountID: context.session.accountID, context.form["split_by_realm"] == "on")
        return .redirect(to: "/settlements", flash: .feesSaved, secureCookies: secureCookies)
    }

    /// Owners set the fees days closed from now on take.
    func changeFees(_ request: Request, context: MerchantContext) async throws -> Response {
        let percent = (context.form["fee_percent"] ?? "").trimmingCharacters(in: .whitespaces)
        let fixed = (context.form["fee_fixed"] ?? "").trimmingCharacters(in: .whitespaces)
        var state = FormState(values: ["fee_percent": percent, "fee_fixed": fixed])
        let points = Self.basisPoints(percent.isEmpty ? "0" : percent)
        if points == nil { state.errors["fee_percent"] = "Enter a percentage from 0 to 100, with at most two decimals, like 2.9." }
        let minor = fixed.isEmpty ? 0 : Int64(fixed).flatMap { (0...100_000).contains($0) ? $0 : nil }
        if minor == nil { state.errors["fee_fixed"] = "Enter a whole number of the smallest unit from 0 to 100000, like 30 for 0.30." }
        guard let points, let minor else { return try await render(context, before: nil, state: state, status: .unprocessableContent) }
        try await settlements.setFees(accountID: context.session.accountID, basisPoints: points, fixedMinor: minor)
        return .redirect(to: "/settlements", flash: .feesSaved, secureCookies: secureCookies)
    }

    func show(_ request: Request, context: MerchantContext) async throws -> Response {
        let (settlement, items) = try await find(context)
        return renderer.page(
            "settlements/show", title: "Settlement of \(Formats.isoDay(settlement.day))",
            ShowView(
                settlement: Self.row(settlement), paidAt: settlement.paidAt.map(Formats.dateTime),
                items: items.map {
                    ItemRow(
                        id: $0.payment.id.rawValue, date: Formats.dateTime($0.payment.createdAt), description: $0.payment.description,
                        kind: $0.kind == "refund" ? "Refund" : "Capture", amount: $0.amount.formatted, status: $0.payment.status.label,
                        statusClass: PaymentsController.statusClass($0.payment.status))
                },
                hasItems: !items.isEmpty, csvURL: "/settlements/\(settlement.id)/payments.csv"),
            context: context)
    }

    static let csvHeader = ["settlement", "payment", "kind", "amount", "currency", "payment_created_at", "description", "status"]

    func csv(_ request: Request, context: MerchantContext) async throws -> Response {
        let (settlement, items) = try await find(context)
        var text = CSV.line(Self.csvHeader)
        for item in items {
            text += CSV.line([
                // The kind says which way it moved; the amount stays positive (a leading minus would read as a formula).
                settlement.id, item.payment.id.rawValue, item.kind,
                Money(minorUnits: abs(item.amount.minorUnits), currency: item.amount.currency).decimalString, item.amount.currency.code,
                Formats.iso8601(item.payment.createdAt), item.payment.description, item.payment.status.rawValue,
            ])
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/csv; charset=utf-8",
                .contentDisposition: "attachment; filename=\"kassa-settlement-\(settlement.id).csv\"", .cacheControl: "no-store",
            ],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    private func find(_ context: MerchantContext) async throws -> (Settlement, [Settlements.Item]) {
        let id = try context.parameters.require("id")
        let accountID = context.session.accountID
        guard Identifier.isValid(id, prefix: "stl"), let settlement = try await settlements.find(accountID: accountID, id: id) else {
            throw HTTPError(.notFound)
        }
        return (settlement, try await settlements.items(accountID: accountID, settlementID: id))
    }
}

// Views rendered by name, not through Mirror (see `ViewParity`).
extension SettlementsController.Row: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": self.id
        case "day": self.day
        case "currency": self.currency
        case "realm": self.realm
        case "gross": self.gross
        case "refunds": self.refunds
        case "fees": self.fees
        case "net": self.net
        case "count": self.count
        case "status": self.status
        case "statusClass": self.statusClass
        default: nil
        }
    }
}

extension SettlementsController.ListView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "settlements": self.settlements
        case "hasSettlements": self.hasSettlements
        case "nextURL": self.nextURL
        case "feesText": self.feesText
        case "splitByRealm": self.splitByRealm
        case "form": self.form
        case "errors": self.errors
        case "summary": self.summary
        default: nil
        }
    }
}

extension SettlementsController.ItemRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": self.id
        case "date": self.date
        case "description": self.description
        case "kind": self.kind
        case "amount": self.amount
        case "status": self.status
        case "statusClass": self.statusClass
        default: nil
        }
    }
}

extension SettlementsController.ShowView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "settlement": self.settlement
        case "paidAt": self.paidAt
        case "items": self.items
        case "hasItems": self.hasItems
        case "csvURL": self.csvURL
        default: nil
        }
    }
}
