import Foundation
import KassaTestSupport
import Mustache
import PaymentCore
import Testing

@testable import App

/// Kassa's renderer keeps swift-mustache's bytes: each case is rendered by both on the same data.
/// (Every page of every app test is also compared, through `AppConfiguration.compareRendering`.)
@Suite("PageTemplates renders what swift-mustache renders")
struct PageTemplatesTests {
    struct Row: Sendable {
        let label: String
        let note: String?
        let flagged: Bool
        let amount: Money
    }

    struct Named: MustacheParent, Sendable {
        let values: [String: String]
        func child(named name: String) -> Any? { values[name] }
    }

    /// Templates that lean on the rules a byte-for-byte renderer must get right: standalone lines,
    /// indented partials and blocks, inheritance with outer blocks winning, comments, dotted and
    /// top-anchored names, escaping, lists, booleans, nil, numbers and reflected structs.
    static let files: [String: String] = [
        "layout": """
        <html>
          <head>{{$head}}<title>default</title>{{/head}}</head>
          <body class="{{bodyClass}}">
            {{^payer}}{{> header}}{{/payer}}
            {{> flash}}
            {{$body}}{{/body}}
          </body>
        </html>

        """,
        "header": """
        <nav>
          {{#user}}
          <span>{{name}}</span>
          {{/user}}
          {{^user}}<a href="/login">Log in</a>{{/user}}
        </nav>

        """,
        "flash": "{{#flash}}<p class=\"flash {{kind}}\">{{message}}</p>{{/flash}}\n",
        "page": """
        {{<layout}}
        {{$head}}<title>{{title}}</title>{{/head}}
        {{$body}}
          {{! a comment alone on its line }}
          <h1>{{title}}</h1>
          {{#rows}}
            <tr data-flag="{{#flagged}}yes{{/flagged}}{{^flagged}}no{{/flagged}}">
              <td>{{label}}</td> <td>{{note}}</td> <td>{{amount}}</td> <td>{{title}}</td>
            </tr>
          {{/rows}}
          {{^rows}}
            <p>No rows</p>
          {{/rows}}
          {{#nested}}{{inner.deep}} {{.missing}} {{.label}}{{/nested}}
          {{{raw}}} {{&raw}} {{count}} {{ratio}} {{none}} {{optional}}
          {{#tags}}<i>{{.}}</i>{{/tags}}
            {{> partial_indented}}
          text {{> inline_partial}} more
          {{#named}}{{a}}|{{b}}|{{title}}{{/named}}
        {{/body}}
        {{/layout}}

        """,
        "partial_indented": "line one {{title}}\n{{#tags}}\ntag {{.}}\n{{/tags}}\nlast\n",
        "inline_partial": "[{{title}}]\n",
        "no_trailing_newline": "  {{#rows}}\n  {{label}}\n  {{/rows}}  ",
        "blocks_nested": """
        {{<layout}}
        {{$body}}
            {{#rows}}
              {{$inner}}default {{label}}{{/inner}}
            {{/rows}}
        {{/body}}
        {{/layout}}

        """,
    ]

    static func object(rows: [Row], user: Bool, flash: Bool) -> [String: Any] {
        var object: [String: Any] = [
            "title": "Fish & <Chips> \"quoted\" 'single' · €",
            "bodyClass": "wide",
            "payer": false,
            "rows": rows,
            "raw": "<b>bold & raw</b>",
            "count": 42,
            "ratio": 0.25,
            "tags": ["a<b", "c"],
            "nested": ["inner": ["deep": "deep value"], "label": "nested label"] as [String: Any],
            "named": Named(values: ["a": "A&", "b": "B"]),
            "optional": Optional<String>.some("wrapped") as Any,
        ]
        if user { object["user"] = ["name": "Mira O'Neil"] }
        if flash { object["flash"] = ["kind": "success", "message": "Saved <ok>"] }
        return object
    }

    static let rows = [
        Row(label: "one", note: nil, flagged: true, amount: Money(minorUnits: 2450, currency: .eur)),
        Row(label: "two <2>", note: "a note", flagged: false, amount: Money(minorUnits: 5, currency: .jpy)),
    ]

    @Test(arguments: ["page", "no_trailing_newline", "blocks_nested", "header", "partial_indented"])
    func rendersTheSameBytes(template: String) throws {
        let ours = PageTemplates(templates: try Self.files.mapValues { try PageTemplates.compile($0) })
        var theirs = MustacheLibrary()
        for (name, text) in Self.files { theirs.register(try MustacheTemplate(string: text), named: name) }
        for (rows, user, flash) in [(Self.rows, true, true), ([], false, false), (Self.rows, false, true)] {
            let object = Self.object(rows: rows, user: user, flash: flash)
            let expected = try #require(theirs.render(object, withTemplate: template))
            let rendered = try #require(ours.render(object, template: template))
            #expect(rendered == expected)
            if template == "page" && user {
                // The cases exercise what they claim: escaping, indentation, blocks and lists.
                #expect(rendered.contains("<title>Fish &amp; &lt;Chips&gt; &quot;quoted&quot; &#39;single&#39; · €</title>"))
                #expect(rendered.contains("\n  <span>Mira O&#39;Neil</span>\n") && rendered.contains("\n      tag a&lt;b\ntag c\n      last\n"))
                #expect(rendered.contains("<td>two &lt;2&gt;</td>") && rendered.contains("<b>bold & raw</b>"))
            }
        }
    }

    @Test func everyKassaTemplateCompiles() throws {
        let templates = try PageTemplates(directory: TestServices.root + "/Templates")
        #expect(Renderer.required.allSatisfy { templates.contains($0) })
    }

    @Test func unsupportedTagsAreRefusedAtCompileTime() {
        for text in [
            "{{=<% %>=}}", "{{%CONTENT_TYPE:TEXT}}", "{{uppercased(name)}}", "{{>*dynamic}}", "{{#open}}never closed", "{{#a}}{{/b}}", "{{name",
            "a\r\nb",
        ] {
            #expect(throws: PageTemplates.CompileError.self, "\(text)") { try PageTemplates.compile(text) }
        }
    }
}

/// The QR code's PNG is a valid file: signature, IHDR, a zlib stream of stored blocks whose bytes are
/// the image's scanlines, and every chunk's CRC and the stream's Adler-32 right.
@Suite("QR codes as PNG")
struct QRCodePNGTests {
    static func uint32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }

    @Test func thePNGDecodesToTheModules() throws {
        let text = "https://kassa.example/pay/plink_AAAAAAAAAAAAAAAAAAAAAAAA?exp=1&kid=k1&sig=abc"
        let png = try #require(QRCode.png(text, moduleSize: 2, quietZone: 4))
        let modules = try #require(QRCode.modules(text))
        #expect(Array(png.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var at = 8
        var chunks: [(String, [UInt8])] = []
        while at < png.count {
            let length = Int(Self.uint32(png[at..<at + 4]))
            let type = String(decoding: png[at + 4..<at + 8], as: UTF8.self)
            let data = Array(png[at + 8..<at + 8 + length])
            #expect(Self.uint32(png[at + 8 + length..<at + 12 + length]) == QRCode.crc32(Array(png[at + 4..<at + 8 + length])), "\(type) CRC")
            chunks.append((type, data))
            at += 12 + length
        }
        #expect(chunks.map(\.0) == ["IHDR", "IDAT", "IEND"])
        let size = (modules.count + 8) * 2
        #expect(Self.uint32(chunks[0].1[0..<4]) == UInt32(size) && Array(chunks[0].1[8...]) == [8, 0, 0, 0, 0])
        // Inflate the stored blocks.
        let stream = chunks[1].1
        var raw: [UInt8] = []
        var position = 2
        while true {
            let final = stream[position] & 1 == 1
            let length = Int(stream[position + 1]) | Int(stream[position + 2]) << 8
            raw += stream[position + 5..<position + 5 + length]
            position += 5 + length
            if final { break }
        }
        #expect(raw.count == (size + 1) * size)
        var a: UInt32 = 1
        var b: UInt32 = 0
        for byte in raw {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }
        #expect(Self.uint32(stream[position..<position + 4]) == (b << 16 | a))
        // A dark module is black, the quiet zone white.
        let (x, y) = try #require(modules.enumerated().lazy.compactMap { y, row in row.firstIndex(of: true).map { ($0, y) } }.first)
        #expect(raw[(y + 4) * 2 * (size + 1) + 1 + (x + 4) * 2] == 0)
        #expect(raw[1] == 255)
    }

    /// `kassa render-bench` renders the real history page, and refuses a count of renders that times nothing.
    @Test func renderBenchRendersTheHistoryPageAndRefusesNoRenders() async throws {
        let templates = TestServices.root + "/Templates"
        let (microseconds, bytes) = try await renderBench(templates: templates, iterations: 2)
        #expect(microseconds > 0 && bytes > 10_000)
        for iterations in [0, -5] {
            await #expect(throws: RenderBenchRefused.self) { try await renderBench(templates: templates, iterations: iterations) }
        }
    }
}
