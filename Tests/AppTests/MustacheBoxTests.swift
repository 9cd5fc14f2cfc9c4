import Foundation
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
