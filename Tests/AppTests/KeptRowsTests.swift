import Foundation
import KassaTestSupport
import Mustache
import PaymentCore
import Testing

@testable import App

/// The history's and the dashboard's rows are rendered once per key and place and copied after
/// (`KeptRows`): a copy must be the bytes a fresh render gives, and a row that shows anything else
/// (a new status, a refund, another time zone) must be rendered anew.
@Suite("Kept rows: rendered once, copied after, never stale")
struct KeptRowsTests {
    static func payment(_ id: String, status: PaymentStatus = .succeeded, refunded: Int64 = 0, email: String? = "a@example.com") -> ListedPayment {
        ListedPayment(
            id: PaymentID(id + String(repeating: "A", count: 28 - id.count)), status: status,
            amount: Money(minorUnits: 1250, currency: Currency(code: "EUR")!), amountRefunded: refunded, description: "Beans <&> \"quoted\"",
            cardBrand: .visa, cardLast4: "4242", email: email, createdAt: Date(timeIntervalSince1970: 1_796_000_000))
    }

    struct View: MustacheParent, Sendable {
        let payments: any KeptRowList
        func child(named name: String) -> Any? { name == "payments" ? payments : nil }
    }

    static func render(_ templates: PageTemplates, _ payments: [ListedPayment], cache: RowCache<ListedRow.Key>?) -> String {
        let view = View(payments: KeptRows(payments.map(ListedRow.init), cache: cache))
        return String(decoding: templates.bytes(view, template: "payments/rows_only") ?? [], as: UTF8.self)
    }

    /// The real rows partial, inside an indented section as the pages hold it.
    static func templates() throws -> PageTemplates {
        var files: [String: [PageTemplates.Node]] = [:]
        let partial = try String(contentsOfFile: TestServices.root + "/Templates/partials/payment_rows.mustache", encoding: .utf8)
        files["partials/payment_rows"] = try PageTemplates.compile(partial, name: "partials/payment_rows")
        files["payments/rows_only"] = try PageTemplates.compile("<section>\n  {{> partials/payment_rows}}\n</section>\n", name: "payments/rows_only")
        return PageTemplates(templates: files)
    }

    @Test func aKeptRowIsTheBytesAFreshRenderGives() throws {
        let templates = try Self.templates()
        let payments = [
            Self.payment("pay_A"), Self.payment("pay_B", status: .failed, email: nil), Self.payment("pay_C", status: .refunded, refunded: 1250),
        ]
        let fresh = Self.render(templates, payments, cache: nil)
        let cache = RowCache<ListedRow.Key>(capacity: 100)
        let first = Self.render(templates, payments, cache: cache)
        #expect(cache.count == 3)
        let copied = Self.render(templates, payments, cache: cache)
        #expect(first == fresh && copied == fresh)
        #expect(fresh.contains("Beans &lt;&amp;&gt; &quot;quoted&quot;") && fresh.contains("−€12.50 refunded") && fresh.contains("status-bad"))
        // swift-mustache iterates the same rows' views and writes the same bytes.
        let reference = MustacheLibrary(templates: [
            "partials/payment_rows": try MustacheTemplate(
                string: try String(contentsOfFile: TestServices.root + "/Templates/partials/payment_rows.mustache", encoding: .utf8)),
            "payments/rows_only": try MustacheTemplate(string: "<section>\n  {{> partials/payment_rows}}\n</section>\n"),
        ])
        #expect(reference.render(View(payments: KeptRows(payments.map(ListedRow.init), cache: cache)), withTemplate: "payments/rows_only") == fresh)
    }

    @Test func aRowThatShowsSomethingElseIsRenderedAnew() throws {
        let templates = try Self.templates()
        let cache = RowCache<ListedRow.Key>(capacity: 100)
        _ = Self.render(templates, [Self.payment("pay_A")], cache: cache)
        // Refunded since: a new key, its own bytes.
        let refunded = Self.render(templates, [Self.payment("pay_A", status: .partiallyRefunded, refunded: 250)], cache: cache)
        #expect(refunded == Self.render(templates, [Self.payment("pay_A", status: .partiallyRefunded, refunded: 250)], cache: nil))
        #expect(refunded.contains("Partially refunded") && refunded.contains("−€2.50 refunded"))
        #expect(cache.count == 2)
        // The same payment in another account's zone shows another time.
        let utc = Self.render(templates, [Self.payment("pay_A")], cache: cache)
        let tokyo = Formats.$timeZone.withValue(TimeZone(identifier: "Asia/Tokyo")!) {
            Self.render(templates, [Self.payment("pay_A")], cache: cache)
        }
        #expect(utc != tokyo)
        #expect(
            tokyo == Formats.$timeZone.withValue(TimeZone(identifier: "Asia/Tokyo")!) { Self.render(templates, [Self.payment("pay_A")], cache: nil) })
        #expect(cache.count == 3)
    }

    @Test func theCacheStaysWithinItsCapacity() throws {
        let templates = try Self.templates()
        let cache = RowCache<ListedRow.Key>(capacity: 4)
        for index in 0..<10 { _ = Self.render(templates, [Self.payment("pay_\(index)")], cache: cache) }
        #expect(cache.count <= 4 && cache.count >= 1)
    }
}
