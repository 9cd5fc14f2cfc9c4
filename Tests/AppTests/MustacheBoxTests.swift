import Foundation
import KassaTestSupport
import Mustache
import PaymentCore
import Testing

@testable import App

@Suite("Views flattened for swift-mustache render exactly as the structs did")
struct MustacheBoxTests {
    struct Row: Sendable {
        let label: String
        let amount: Money
        let note: String?
        let flagged: Bool
    }

    struct Page: Sendable {
        let title: String
        let rows: [Row]
        let empty: [Row]
        let note: String?
        let count: Int
        let when: Date
        let tags: [String]
        let values: [String: String]
        let nested: Inner?
        let missing: Inner?
    }

    struct Inner: Sendable {
        let name: String
        let depth: Int64
    }

    struct Layout: Sendable {
        let title: String
        let note: String
        let page: Page
    }

    static let template = """
        {{title}}|{{#page}}{{title}}:{{count}}:{{when}}:{{note}}{{/page}}|\
        {{#page.rows}}[{{label}} {{amount}} {{note}} {{#flagged}}F{{/flagged}}{{^flagged}}-{{/flagged}}]{{/page.rows}}|\
        {{^page.empty}}none{{/page.empty}}|{{#page.tags}}<{{.}}>{{/page.tags}}|{{page.values.k}}|\
        {{#page.nested}}{{name}}/{{depth}}{{/page.nested}}{{^page.missing}}no inner{{/page.missing}}|{{page.nested.name}}
        """

    @Test func boxedAndReflectedRenderTheSame() throws {
        let library = MustacheLibrary(templates: ["t": try MustacheTemplate(string: Self.template)])
        let layout = Layout(
            title: "Outer <&>", note: "layout note",
            page: Page(
                title: "Inner",
                rows: [
                    Row(label: "a", amount: Money(minorUnits: 1999, currency: .eur), note: nil, flagged: true),
                    Row(label: "b", amount: Money(minorUnits: 5, currency: .jpy), note: "n", flagged: false),
                ],
                empty: [], note: nil, count: 3, when: Date(timeIntervalSince1970: 1_800_000_000), tags: ["x", "y"], values: ["k": "v"],
                nested: Inner(name: "deep", depth: 2), missing: nil
            )
        )
        let reflected = try #require(library.render(layout, withTemplate: "t"))
        let flattened = try #require(MustacheBox.box(layout))
        let boxed = try #require(library.render(flattened, withTemplate: "t"))
        #expect(boxed == reflected)
        // A nil optional climbs to the enclosing context, as Mirror's lookup did.
        #expect(boxed.contains("Inner:3:") && boxed.contains(":layout note|"))
        #expect(flattened is [String: Any])
    }
}

/// The dashboard's charts are looked up by name (`MustacheParent`), not reflected: the same
/// template renders the same bytes both ways on fixed data, so every field is in the name table.
@Suite("Charts render the same by name as by reflection")
struct ChartRenderingTests {
    /// The value's fields as nested dictionaries, through `Mirror` (what swift-mustache does for a
    /// plain struct: a nil optional leaves its name out), ignoring a `MustacheParent` conformance.
    static func reflected(_ value: Any) -> Any? {
        // Kept rows are read as the list of their rows' views (`KeptRows` is a `MustacheSequence`).
        if value is any KeptRowList, let rows = value as? any Sequence {
            func views<S: Sequence>(_ rows: S) -> [Any] { rows.map { $0 } }
            return views(rows).compactMap { reflected($0) }
        }
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .struct:
            var fields: [String: Any] = [:]
            for child in mirror.children { if let label = child.label, let field = reflected(child.value) { fields[label] = field } }
            return fields
        case .collection: return mirror.children.compactMap { reflected($0.value) }
        case .optional: return mirror.children.first.flatMap { reflected($0.value) }
        default: return value
        }
    }

    @Test func theVolumeChartTemplateGivesTheSameBytes() async throws {
        let library = try await MustacheLibrary(directory: TestServices.root + "/Templates")
        let day = { (n: Double) in Date(timeIntervalSince1970: 1_800_000_000).addingTimeInterval(n * 86_400) }
        let totals = [
            PaymentHistory.DayTotal(
                day: UTCDay.start(of: day(-3)), currency: .eur, gross: Money(minorUnits: 12_345, currency: .eur),
                refunded: Money(minorUnits: 2_000, currency: .eur), captured: 4, failed: 1),
            PaymentHistory.DayTotal(
                day: UTCDay.start(of: day(0)), currency: .eur, gross: Money(minorUnits: 999, currency: .eur),
                refunded: Money(minorUnits: 0, currency: .eur), captured: 1, failed: 0),
            PaymentHistory.DayTotal(
                day: UTCDay.start(of: day(-10)), currency: .usd, gross: Money(minorUnits: 0, currency: .usd),
                refunded: Money(minorUnits: 0, currency: .usd), captured: 0, failed: 2),
        ]
        let charts = VolumeChart.charts(totals, through: day(0))
        #expect(charts.count == 2)
        for chart in charts {
            let byName = try #require(library.render(chart, withTemplate: "partials/volume_chart"))
            let byReflection = try #require(library.render(Self.reflected(chart) as Any, withTemplate: "partials/volume_chart"))
            #expect(byName == byReflection)
            #expect(byName.contains("data-gross") == (chart.currency == "EUR"))
        }
    }
}

extension ChartRenderingTests {
    @Test func paymentRowsGiveTheSameBytes() async throws {
        let library = try await MustacheLibrary(directory: TestServices.root + "/Templates")
        let rows = [
            PaymentsController.PaymentRow(
                id: "pay_A", date: "1 Dec 2026, 10:00 UTC", description: "Beans <&> \"quoted\"", amount: "€12.50", status: "Refunded",
                statusClass: "warn", card: "Visa •••• 4242", email: "a@example.com", refunded: "€12.50"),
            PaymentsController.PaymentRow(
                id: "pay_B", date: "2 Dec 2026, 11:00 UTC", description: "Tea", amount: "$1.00", status: "Failed", statusClass: "bad", card: nil,
                email: nil, refunded: nil),
        ]
        struct View { let payments: [PaymentsController.PaymentRow] }
        let byName = try #require(library.render(["payments": rows] as [String: Any], withTemplate: "partials/payment_rows"))
        let byReflection = try #require(library.render(Self.reflected(View(payments: rows)) as Any, withTemplate: "partials/payment_rows"))
        #expect(byName == byReflection)
        #expect(byName.contains("Beans &lt;&amp;&gt;") && byName.contains("pay_B") && !byName.contains("pay_B\"><br>"))
    }
}

extension ChartRenderingTests {
    /// The history page in its layout, with a signed-in header, a flash, totals, filters and
    /// pagination: the same bytes by name as by reflection.
    @Test func theHistoryPageInItsLayoutGivesTheSameBytes() async throws {
        let library = try await MustacheLibrary(directory: TestServices.root + "/Templates")
        let rows = [
            PaymentsController.PaymentRow(
                id: "pay_A", date: "1 Dec 2026, 10:00 UTC", description: "Beans <&>", amount: "€12.50", status: "Refunded", statusClass: "warn",
                card: "Visa •••• 4242", email: "a@example.com", refunded: "€12.50"),
            PaymentsController.PaymentRow(
                id: "pay_B", date: "2 Dec 2026, 11:00 UTC", description: "Tea", amount: "$1.00", status: "Failed", statusClass: "bad", card: nil,
                email: nil, refunded: nil),
        ]
        let list = PaymentsController.ListView(
            payments: KeptRows(rows, cache: nil), hasPayments: true,
            totals: [
                PaymentsController.TotalRow(currency: "EUR", net: "€0.00", countLabel: "1 payment", refunded: "€12.50"),
                PaymentsController.TotalRow(currency: "USD", net: "$0.00", countLabel: "1 payment", refunded: nil),
            ],
            hasTotals: true, totalsAsOf: "1 Dec 2026, 10:00:01 UTC",
            statuses: [
                PaymentsController.StatusOption(value: "succeeded", label: "Succeeded", selected: false),
                PaymentsController.StatusOption(value: "failed", label: "Failed", selected: true),
            ],
            realms: [
                PaymentsController.StatusOption(value: "", label: "Every site", selected: false),
                PaymentsController.StatusOption(value: "shop.example", label: "shop.example", selected: true),
            ], hasRealms: true,
            form: ["q": "tea \"x\"", "from": "2026-11-01"], errors: ["through": "Use a date."], filtered: true, nextURL: "/payments?after=pay_B",
            firstURL: "/payments", csvURL: "/payments.csv?status=failed")
        let layout = Renderer.Layout(
            title: "Payments",
            user: Renderer.HeaderUser(
                name: "Ada Lovelace", email: "ada@example.com", accountName: "Analytical", initials: "AL", unread: "3",
                current: ["payments": true], isOperator: false, suspended: "Chargebacks under review"),
            csrf: "csrf-token", flash: Renderer.FlashView(message: "Refund issued.", kind: "success"), page: list, bodyClass: "", payer: false,
            can: ["develop": true, "administer": true, "own": true])
        let byName = try #require(library.render(layout, withTemplate: "payments/index"))
        let byReflection = try #require(library.render(Self.reflected(layout) as Any, withTemplate: "payments/index"))
        #expect(byName == byReflection)
        #expect(byName.contains("Refund issued.") && byName.contains("Beans &lt;&amp;&gt;") && byName.contains("csrf-token"))
    }
}

extension ChartRenderingTests {
    static let header = Renderer.HeaderUser(
        name: "Ada Lovelace", email: "ada@example.com", accountName: "Analytical", initials: "AL", unread: nil, current: ["dashboard": true],
        isOperator: false,
        suspended: nil)
    static let row = PaymentsController.PaymentRow(
        id: "pay_A", date: "1 Dec 2026, 10:00 UTC", description: "Beans <&>", amount: "€12.50", status: "Partially refunded",
        statusClass: "warn", card: "Visa •••• 4242", email: "a@example.com", refunded: "€2.50")

    func sameBytes<Page: Sendable>(_ template: String, _ page: Page, flash: Renderer.FlashView? = nil) async throws {
        let library = try await MustacheLibrary(directory: TestServices.root + "/Templates")
        let layout = Renderer.Layout(
            title: "T", user: Self.header, csrf: "csrf-token", flash: flash, page: page, bodyClass: "live", payer: false,
            can: ["develop": true, "administer": true, "own": true])
        let byName = try #require(library.render(layout, withTemplate: template))
        let byReflection = try #require(library.render(Self.reflected(layout) as Any, withTemplate: template))
        #expect(byName == byReflection, "\(template)")
        #expect(byName.contains("Beans &lt;&amp;&gt;"), "\(template)")
    }

    @Test func aPaymentsPageGivesTheSameBytes() async throws {
        try await sameBytes(
            "payments/show",
            PaymentsController.ShowView(
                payment: Self.row, currency: "EUR", linkID: "plink_A", linkName: "Beans <&> link", failure: nil, holder: "Ada <L>",
                answers: [FieldAnswer(label: "Session", value: "Saturday 10:00"), FieldAnswer(label: "Notes", value: "<b>")], formID: "form_A",
                formName: nil, realm: "shop.example", capturable: true, voidsOn: "9 Dec 2026", risk: "Score 12 · velocity_card",
                events: [
                    PaymentsController.EventRow(
                        time: "1 Dec 2026, 10:00 UTC", datetime: "2026-12-01T10:00:00Z", title: "Payment created", detail: nil, tone: "info"),
                    PaymentsController.EventRow(
                        time: "1 Dec 2026, 10:01 UTC", datetime: "2026-12-01T10:01:00Z", title: "Refunded €2.50", detail: "x", tone: "warn"),
                ],
                refunds: [PaymentsController.RefundRow(id: "re_A", amount: "€2.50", reason: nil, date: "1 Dec 2026, 10:01 UTC")], hasRefunds: true,
                refundable: true, showRefunds: true, remaining: "€10.00", form: ["amount": "1.00"], errors: ["amount": "Too much."],
                confirm: PaymentsController.RefundConfirmation(
                    question: "Refund €1.00 to Visa •••• 4242? This cannot be undone.", button: "Yes, refund €1.00", amount: "1.00",
                    reason: "<r>")),
            flash: Renderer.FlashView(message: "Refund issued.", kind: "success"))
    }

    @Test func theDashboardGivesTheSameBytes() async throws {
        try await sameBytes(
            "dashboard/index",
            DashboardController.DashboardView(
                accountName: "Analytical", firstName: "Ada",
                balances: [DashboardController.Balance(currency: "EUR", currencyName: "Euro", amount: "€10.00")], hasBalances: true,
                chartsHTML: "<p>charts</p>", hasCharts: true, chartsAsOf: nil,
                realms: [
                    PaymentsController.StatusOption(value: "", label: "All sites", selected: false),
                    PaymentsController.StatusOption(value: "a.example", label: "a.example", selected: true),
                ],
                hasRealms: true, realm: "a.example", balancesAsOf: "1 Dec 2026, 10:00:00 UTC", hasMethods: true,
                payments: KeptRows([Self.row], cache: nil), hasRecent: true,
                expiring: [
                    LinksController.LinkRow(
                        id: "plink_A", description: "Workshop <x>", amount: "€45.00", status: "Active", statusClass: "ok", uses: "0 of 1",
                        expires: "3 Dec 2026")
                ],
                hasExpiring: true))
    }

    /// A view answering by name that forgets one of its fields (`ViewParity`, checked on every
    /// page the app tests render).
    struct Forgetful: MustacheParent, Sendable {
        let shown: String
        let forgotten: String
        let absent: String?

        func child(named name: String) -> Any? { name == "shown" ? shown : nil }
    }

    @Test func aViewThatForgetsAFieldIsNamed() {
        let page: [String: Any] = ["rows": [Forgetful(shown: "a", forgotten: "b", absent: nil)], "title": "t"]
        #expect(ViewParity.problems(in: page) == ["Forgetful does not answer for 'forgotten' (at [rows][0])"])
        #expect(
            ViewParity.problems(in: [
                "rows": [MustacheBoxTests.Row(label: "a", amount: Money(minorUnits: 1, currency: .eur), note: nil, flagged: true)]
            ]).isEmpty)
    }
}
