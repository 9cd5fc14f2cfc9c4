import Foundation
import Mustache

/// Kassa's templates, compiled once into literal bytes and looked-up names, and rendered into one
/// byte buffer.
///
/// The pages used to be rendered by swift-mustache, which spent most of a page's time (perf, issue
/// 16) in dynamic casts on every lookup, in splitting every dotted name anew, in counting the
/// `Character`s of every rendered piece inside the indented layout block, in escaping `Character`
/// by `Character` and in copying each section's output into its parent's. This renderer keeps
/// swift-mustache's meaning, quirks included (its standalone-line rules, its per-piece indentation
/// of partials and blocks, its block overrides, its lookups through `MustacheParent` and
/// `Mirror`), so a page renders to the same bytes: `make test` renders every page of every test
/// both ways and fails on a difference (`AppConfiguration.compareRendering`), and
/// `PageTemplatesTests` holds the rules on small templates.
///
/// It knows the part of mustache Kassa's templates use: variables (`{{x}}`, `{{{x}}}`, `{{&x}}`),
/// sections and inverted sections, comments, partials, and inheritance (`{{<parent}}`,
/// `{{$block}}`). Set delimiters, pragmas, transforms (`{{f(x)}}`), dynamic partials and lambdas
/// are refused when the templates are compiled, so start-up says so instead of a page being wrong.
struct PageTemplates: Sendable {
    /// A name as written in a tag: `.` (the current value), `a.b` (climb the stack for `a`), or
    /// `.a` (only the current value's `a`).
    struct Name: Sendable {
        let components: [String]
        let current: Bool
        let fromTop: Bool

        init(_ text: String) {
            current = text == "."
            fromTop = !current && text.first == "."
            components = current ? [] : text.split(separator: ".").map(String.init)
        }
    }

    indirect enum Node: Sendable {
        case text([UInt8])
        case variable(Name, escaped: Bool)
        case section(Name, [Node], inverted: Bool)
        /// `indentation` is nil when the tag was not alone on its line.
        case partial(String, indentation: [UInt8]?, overrides: [String: [Node]]?)
        case block(String, default: [Node], indentation: [UInt8])
        /// A `{{$name}}` directly inside `{{<parent}}`: collected into the partial's overrides.
        case blockDefinition(String, [Node])
    }

    struct CompileError: Error, CustomStringConvertible {
        let template: String
        let offset: Int
        let problem: String
        var description: String { "template \(template), byte \(offset): \(problem)" }
    }

    /// The templates flattened into one array of plain instructions, which is what renders (the
    /// compiled trees are not kept).
    let program: Program

    init(templates: [String: [Node]]) {
        self.program = Program(templates)
    }

    /// Whether a template of this name was compiled.
    func contains(_ name: String) -> Bool { program.templateIndex[name] != nil }

    /// Every `*.mustache` below `directory`, named by its path without the extension, as
    /// swift-mustache's library names them.
    init(directory: String) throws {
        let root = directory.hasSuffix("/") ? directory : directory + "/"
        var templates: [String: [Node]] = [:]
        for case let path as String in FileManager.default.enumerator(atPath: root)?.allObjects ?? [] where path.hasSuffix(".mustache") {
            let name = String(path.dropLast(".mustache".count))
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: root + path)))
            templates[name] = try Self.compile(bytes, name: name)
        }
        self.init(templates: templates)
    }

    static func compile(_ text: String, name: String = "template") throws -> [Node] {
        try compile(Array(text.utf8), name: name)
    }

    static func compile(_ bytes: [UInt8], name: String) throws -> [Node] {
        var parser = Parser(bytes: bytes, template: name)
        if let offset = bytes.firstIndex(of: UInt8(ascii: "\r")) {
            throw CompileError(template: name, offset: offset, problem: "carriage return (save the file with \\n line ends)")
        }
        return try parser.parse(ParserState())
    }

    /// Renders `object` with the named template; nil when there is no such template.
    func render(_ object: Any, template name: String) -> String? {
        bytes(object, template: name).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The rendered UTF-8 bytes, for a response body that never needs them as a `String`.
    func bytes(_ object: Any, template name: String) -> [UInt8]? {
        guard let template = program.templateIndex[name] else { return nil }
        return program.ops.withUnsafeBufferPointer { ops in
            program.bytes.withUnsafeBufferPointer { bytes in
                program.names.withUnsafeBufferPointer { names in
                    program.components.withUnsafeBufferPointer { components in
                        var renderer = Rendering(
                            program: program, ops: ops, bytes: bytes, names: names, components: components, stack: [Rendering.Frame(object)])
                        renderer.out.reserveCapacity(16_384)
                        renderer.run(program.templates[template], indentation: [], overrides: nil)
                        return renderer.out
                    }
                }
            }
        }
    }
}

// MARK: - Compiling

extension PageTemplates {
    struct ParserState {
        var section: String?
        var newLine = true
        var inDefinition = false
        var definitionTopLevel = false
        var definitionIndent: Int?

        func entering(section name: String, newLine: Bool) -> ParserState {
            var state = self
            state.section = name
            state.definitionTopLevel = false
            if !newLine { state.newLine = false }
            return state
        }

        func enteringDefinition(of name: String) -> ParserState {
            var state = self
            state.section = name
            state.newLine = true
            state.inDefinition = true
            state.definitionTopLevel = true
            return state
        }
    }

    struct Parser {
        let bytes: [UInt8]
        let template: String
        var position = 0

        static let space = UInt8(ascii: " ")
        static let tab = UInt8(ascii: "\t")
        static let newline = UInt8(ascii: "\n")
        static let brace = UInt8(ascii: "{")
        static let closeBrace = UInt8(ascii: "}")

        init(bytes: [UInt8], template: String) {
            self.bytes = bytes
            self.template = template
        }

        var atEnd: Bool { position >= bytes.count }
        var current: UInt8 { atEnd ? 0 : bytes[position] }

        func error(_ problem: String) -> CompileError {
            CompileError(template: template, offset: position, problem: problem)
        }

        /// One level of the template: the whole of it, or a section's body up to its closing tag.
        mutating func parse(_ initial: ParserState) throws -> [Node] {
            var nodes: [Node] = []
            var state = initial
            var whitespace: [UInt8] = []
            while !atEnd {
                if state.newLine {
                    let read = readSpacesAndTabs()
                    if state.inDefinition && !state.definitionTopLevel {
                        // A block's body loses the first line's indentation on every line.
                        if let indent = state.definitionIndent {
                            whitespace = Array(read.dropFirst(indent))
                        } else {
                            state.definitionIndent = read.count
                        }
                    } else {
                        whitespace = read
                    }
                }
                let text = readText()
                if current == Self.newline && !atEnd {
                    nodes.append(.text(whitespace + text + [Self.newline]))
                    state.newLine = true
                    position += 1
                    continue
                }
                if !text.isEmpty {
                    nodes.append(.text(whitespace + text))
                    whitespace = []
                    state.newLine = false
                }
                if atEnd { break }
                var setNewLine = false
                switch current {
                case UInt8(ascii: "#"), UInt8(ascii: "^"):
                    let inverted = current == UInt8(ascii: "^")
                    position += 1
                    let name = try readName()
                    if isStandalone(state) {
                        setNewLine = true
                    } else if !whitespace.isEmpty {
                        nodes.append(.text(whitespace))
                        whitespace = []
                    }
                    let body = try parse(state.entering(section: name, newLine: setNewLine))
                    nodes.append(.section(Name(name), body, inverted: inverted))

                case UInt8(ascii: "/"):
                    position += 1
                    let start = position
                    let name = try readName()
                    guard name == state.section else {
                        position = start
                        throw error("{{/\(name)}} closes \(state.section.map { "{{#\($0)}}" } ?? "nothing")")
                    }
                    if !isStandalone(state) && !whitespace.isEmpty {
                        nodes.append(.text(whitespace))
                    }
                    return nodes

                case UInt8(ascii: "!"):
                    position += 1
                    try skipComment()
                    setNewLine = isStandalone(state)

                case UInt8(ascii: "{"), UInt8(ascii: "&"):
                    let triple = current == Self.brace
                    if !whitespace.isEmpty {
                        nodes.append(.text(whitespace))
                        whitespace = []
                    }
                    position += 1
                    let name = try readName()
                    if triple {
                        guard current == Self.closeBrace else { throw error("{{{\(name)}} needs a third closing brace") }
                        position += 1
                    }
                    nodes.append(.variable(Name(name), escaped: false))

                case UInt8(ascii: ">"):
                    position += 1
                    skipWhitespace()
                    if current == UInt8(ascii: "*") { throw error("dynamic partials are not supported") }
                    let name = try readPartialName()
                    if !whitespace.isEmpty { nodes.append(.text(whitespace)) }
                    if isStandalone(state) {
                        setNewLine = true
                        nodes.append(.partial(name, indentation: whitespace, overrides: nil))
                    } else {
                        nodes.append(.partial(name, indentation: nil, overrides: nil))
                    }
                    whitespace = []

                case UInt8(ascii: "<"):
                    position += 1
                    skipWhitespace()
                    let name = try readPartialName()
                    if name.first == "*" { throw error("dynamic partials are not supported") }
                    if !whitespace.isEmpty { nodes.append(.text(whitespace)) }
                    if isStandalone(state) { setNewLine = true }
                    let body = try parse(state.enteringDefinition(of: name))
                    var overrides: [String: [Node]] = [:]
                    for node in body {
                        switch node {
                        case .blockDefinition(let block, let nodes): overrides[block] = nodes
                        case .text: break
                        case .variable, .section, .partial, .block: throw error("only {{$blocks}} may sit inside {{<\(name)}}")
                        }
                    }
                    nodes.append(.partial(name, indentation: whitespace, overrides: overrides))
                    whitespace = []

                case UInt8(ascii: "$"):
                    position += 1
                    let name = try readName()
                    if state.definitionTopLevel {
                        if isStandalone(state) { setNewLine = true }
                        let body = try parse(state.entering(section: name, newLine: setNewLine))
                        nodes.append(.blockDefinition(name, body))
                    } else {
                        if !whitespace.isEmpty { nodes.append(.text(whitespace)) }
                        if isStandalone(state) { setNewLine = true }
                        let body = try parse(state.entering(section: name, newLine: setNewLine))
                        nodes.append(.block(name, default: body, indentation: whitespace))
                        whitespace = []
                    }

                case UInt8(ascii: "="), UInt8(ascii: "%"):
                    throw error("set delimiters and pragmas are not supported")

                default:
                    if !whitespace.isEmpty {
                        nodes.append(.text(whitespace))
                        whitespace = []
                    }
                    nodes.append(.variable(Name(try readName()), escaped: true))
                }
                state.newLine = setNewLine
            }
            if let section = state.section { throw error("{{#\(section)}} is never closed") }
            return nodes
        }

        mutating func readSpacesAndTabs() -> [UInt8] {
            let start = position
            while !atEnd, bytes[position] == Self.space || bytes[position] == Self.tab { position += 1 }
            return Array(bytes[start..<position])
        }

        /// Text up to a newline (not read) or past an opening `{{`.
        mutating func readText() -> [UInt8] {
            let start = position
            while !atEnd {
                let byte = bytes[position]
                if byte == Self.newline { return Array(bytes[start..<position]) }
                if byte == Self.brace, position + 1 < bytes.count, bytes[position + 1] == Self.brace {
                    let text = Array(bytes[start..<position])
                    position += 2
                    return text
                }
                position += 1
            }
            return Array(bytes[start..<position])
        }

        static func isWhitespace(_ byte: UInt8) -> Bool {
            byte == space || byte == tab || byte == newline || byte == 0x0B || byte == 0x0C
        }

        static let nameBytes = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-_?*".utf8)

        mutating func skipWhitespace() {
            while !atEnd, Self.isWhitespace(bytes[position]) { position += 1 }
        }

        mutating func readName(allowing extra: Set<UInt8> = []) throws -> String {
            skipWhitespace()
            let start = position
            while !atEnd, Self.nameBytes.contains(bytes[position]) || extra.contains(bytes[position]) { position += 1 }
            let name = String(decoding: bytes[start..<position], as: UTF8.self)
            skipWhitespace()
            if current == UInt8(ascii: "(") { throw error("transforms are not supported") }
            guard current == Self.closeBrace, position + 1 < bytes.count, bytes[position + 1] == Self.closeBrace else {
                throw error("unfinished tag {{\(name)")
            }
            position += 2
            return name
        }

        mutating func readPartialName() throws -> String {
            try readName(allowing: [UInt8(ascii: "/")])
        }

        mutating func skipComment() throws {
            while position + 1 < bytes.count {
                if bytes[position] == Self.closeBrace && bytes[position + 1] == Self.closeBrace {
                    position += 2
                    return
                }
                position += 1
            }
            throw error("unfinished comment")
        }

        /// Alone on its line (only spaces and tabs around it): the line, newline included, goes.
        mutating func isStandalone(_ state: ParserState) -> Bool {
            guard state.newLine else { return false }
            if atEnd { return true }
            var next = position
            while next < bytes.count, bytes[next] == Self.space || bytes[next] == Self.tab { next += 1 }
            guard next < bytes.count, bytes[next] == Self.newline else { return false }
            position = next + 1
            return true
        }
    }
}

// MARK: - The program

extension PageTemplates {
    /// Every template flattened into one array of plain instructions: walking them copies no
    /// reference, where walking the `Node` trees retained and released every node's payload (perf,
    /// issue 16: most of the renderer's time). A section's, block's or partial's own instructions
    /// follow it, and it says where they end (its next sibling); texts are ranges of one byte
    /// array, names indexes into one table.
    struct Program: Sendable {
        enum Kind: UInt8, Sendable {
            case text, variable, rawVariable, section, invertedSection, partial, block
        }

        struct Op: Sendable {
            var kind: Kind
            /// text: its first byte; variables and sections: the name; partial: the template (-1
            /// when there is none); block: the block's name.
            var a: Int32 = 0
            /// The next sibling: what follows this instruction's body (a section's or a block's
            /// body, a partial's override bodies).
            var next: Int32 = 0
            /// text: its end; partial and block: the indentation (-1: a partial not alone on its line).
            var c: Int32 = -1
            /// partial: its overrides (-1: none).
            var d: Int32 = -1
        }

        /// A name as the renderer reads it: its first component looked up through the stack (none
        /// for `.` and `.a`), then the others (`rest`, a range of `components`) through what it found.
        struct Lookup: Sendable {
            var first: String?
            var rest: Range<Int32>
            var current: Bool
            var fromTop: Bool
        }

        private(set) var ops: [Op] = []
        private(set) var bytes: [UInt8] = []
        private(set) var names: [Lookup] = []
        private(set) var components: [String] = []
        private(set) var indentations: [[UInt8]] = []
        private(set) var overrides: [[String: Range<Int>]] = []
        private(set) var blockNames: [String] = []
        /// Each template's instructions, by the template's index.
        private(set) var templates: [Range<Int>] = []
        private(set) var templateIndex: [String: Int] = [:]

        init(_ source: [String: [Node]]) {
            for name in source.keys.sorted() { templateIndex[name] = templateIndex.count }
            templates = Array(repeating: 0..<0, count: templateIndex.count)
            for (name, index) in templateIndex {
                let start = ops.count
                append(source[name] ?? [])
                templates[index] = start..<ops.count
            }
        }

        private mutating func append(_ name: Name) {
            let looked = name.current || name.fromTop ? name.components[...] : name.components.dropFirst()
            let start = Int32(components.count)
            components.append(contentsOf: looked)
            names.append(
                Lookup(
                    first: name.current || name.fromTop ? nil : name.components.first, rest: start..<Int32(components.count),
                    current: name.current, fromTop: name.fromTop))
        }

        private mutating func append(_ nodes: [Node]) {
            for node in nodes { append(node) }
        }

        private mutating func append(_ node: Node) {
            let index = ops.count
            switch node {
            case .text(let text):
                ops.append(Op(kind: .text, a: Int32(bytes.count), c: Int32(bytes.count + text.count)))
                bytes.append(contentsOf: text)
            case .variable(let name, let escaped):
                ops.append(Op(kind: escaped ? .variable : .rawVariable, a: Int32(names.count)))
                append(name)
            case .section(let name, let body, let inverted):
                ops.append(Op(kind: inverted ? .invertedSection : .section, a: Int32(names.count)))
                append(name)
                append(body)
            case .partial(let name, let indentation, let inherited):
                var op = Op(kind: .partial, a: Int32(templateIndex[name] ?? -1))
                if let indentation {
                    op.c = Int32(indentations.count)
                    indentations.append(indentation)
                }
                ops.append(op)
                if let inherited {
                    var bodies: [String: Range<Int>] = [:]
                    for (block, body) in inherited.sorted(by: { $0.key < $1.key }) {
                        let start = ops.count
                        append(body)
                        bodies[block] = start..<ops.count
                    }
                    ops[index].d = Int32(overrides.count)
                    overrides.append(bodies)
                }
            case .block(let name, let body, let indentation):
                ops.append(Op(kind: .block, a: Int32(blockNames.count), c: Int32(indentations.count)))
                blockNames.append(name)
                indentations.append(indentation)
                append(body)
            case .blockDefinition:
                // Only inside `{{<parent}}`, where the parser made them the partial's overrides.
                return
            }
            ops[index].next = Int32(ops.count)
        }
    }
}

// MARK: - Rendering

/// An array of `MustacheParent` views: its elements reach the renderer as `MustacheParent`s
/// without a dynamic cast each (the conformance is known where the array's type is).
protocol ParentRows {
    func eachParent(_ body: (any MustacheParent) -> Void)
}

extension Array: ParentRows where Element: MustacheParent {
    func eachParent(_ body: (any MustacheParent) -> Void) {
        for element in self { body(element) }
    }
}

private protocol OptionalValue {
    var wrapped: Any? { get }
}

extension Optional: OptionalValue {
    fileprivate var wrapped: Any? { self }
}

extension PageTemplates {
    struct Rendering {
        /// A value on the context stack, cast to `MustacheParent` once when it is pushed rather
        /// than at every name looked up through it.
        struct Frame {
            let parent: MustacheParent?
            /// The value when it is not a `MustacheParent` (one existential per frame, not two).
            private let other: Any?

            var value: Any {
                if let parent { return parent }
                return other!  // set whenever `parent` is not
            }

            init(_ value: Any) {
                if let parent = value as? MustacheParent {
                    (self.parent, self.other) = (parent, nil)
                } else {
                    (self.parent, self.other) = (nil, value)
                }
            }

            /// A text: never a `MustacheParent` (nor a sequence, nor custom-rendered), so not asked.
            init(text: String) {
                (self.parent, self.other) = (nil, text)
            }

            /// A row of a `ParentRows` list, already known to be a `MustacheParent`.
            init(parent: any MustacheParent) {
                (self.parent, self.other) = (parent, nil)
            }
        }

        typealias Overrides = [String: Range<Int>]

        let program: Program
        /// The program's hot arrays, held as buffers for the length of one render: reading an
        /// instruction, a text or a name through them retains nothing.
        let ops: UnsafeBufferPointer<Program.Op>
        let bytes: UnsafeBufferPointer<UInt8>
        let names: UnsafeBufferPointer<Program.Lookup>
        let components: UnsafeBufferPointer<String>
        var stack: [Frame]
        var out: [UInt8] = []

        /// A template's or a body's instructions, one sibling after another. Inside an indented
        /// partial or block, every piece that starts a line of this body's output is indented
        /// (swift-mustache's rule, piece by piece).
        mutating func run(_ body: Range<Int>, indentation: [UInt8], overrides: Overrides?) {
            var index = body.lowerBound
            if indentation.isEmpty {
                while index < body.upperBound { index = step(index, indentation: indentation, overrides: overrides) }
                return
            }
            let start = out.count
            while index < body.upperBound {
                let indent = out.count > start && out[out.count - 1] == Parser.newline
                if indent { out.append(contentsOf: indentation) }
                let mark = out.count
                index = step(index, indentation: indentation, overrides: overrides)
                if indent && out.count == mark { out.removeLast(indentation.count) }
            }
        }

        /// One instruction, its body included; returns its next sibling.
        mutating func step(_ index: Int, indentation: [UInt8], overrides: Overrides?) -> Int {
            let op = ops[index]
            let next = Int(op.next)
            switch op.kind {
            case .text:
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[Int(op.a)..<Int(op.c)]))

            case .variable, .rawVariable:
                guard let value = lookUp(Int(op.a)) else { break }
                write(value, escaped: op.kind == .variable)

            case .section:
                let value = lookUp(Int(op.a))
                renderSection(value, index + 1..<next, indentation: indentation, overrides: overrides)

            case .invertedSection:
                let value = lookUp(Int(op.a))
                renderInverted(value, index + 1..<next, indentation: indentation, overrides: overrides)

            case .partial:
                guard op.a >= 0 else { break }
                var merged = overrides
                if op.d >= 0 {
                    // The outer page's blocks win over the ones this partial tag names.
                    let inherited = program.overrides[Int(op.d)]
                    merged = overrides.map { $0.merging(inherited) { outer, _ in outer } } ?? inherited
                }
                let inner = op.c >= 0 ? indentation + program.indentations[Int(op.c)] : indentation
                run(program.templates[Int(op.a)], indentation: inner, overrides: merged)

            case .block:
                let body = overrides?[program.blockNames[Int(op.a)]] ?? (index + 1..<next)
                run(body, indentation: indentation + program.indentations[Int(op.c)], overrides: overrides)
            }
            return next
        }

        mutating func renderSection(_ value: Any?, _ body: Range<Int>, indentation: [UInt8], overrides: Overrides?) {
            // Most sections test an optional text or a flag: answered before the protocol casts below,
            // each a conformance look-up that fails for them.
            guard let value else { return }
            if let text = value as? String {
                stack.append(Frame(text: text))
                run(body, indentation: indentation, overrides: overrides)
                stack.removeLast()
                return
            }
            if let flag = value as? Bool {
                if flag { run(body, indentation: indentation, overrides: overrides) }
                return
            }
            // Rows whose rendered bytes are kept (`KeptRows`): each copied, or rendered and kept.
            if let kept = value as? any KeptRowList {
                kept.render(body, into: &self, indentation: indentation, overrides: overrides)
                return
            }
            // A list of views: one cast for the list instead of one per row.
            if let rows = value as? any ParentRows {
                rows.eachParent { row in renderRow(row, body, indentation: indentation, overrides: overrides) }
                return
            }
            switch value {
            case let sequence as any MustacheSequence:
                renderEach(sequence, body, indentation: indentation, overrides: overrides)
            case let null as MustacheCustomRenderable where null.isNull:
                return
            default:
                stack.append(Frame(value))
                run(body, indentation: indentation, overrides: overrides)
                stack.removeLast()
            }
        }

        /// One row of a list section: its view on top of the stack for its body.
        mutating func renderRow(_ row: any MustacheParent, _ body: Range<Int>, indentation: [UInt8], overrides: Overrides?) {
            stack.append(Frame(parent: row))
            run(body, indentation: indentation, overrides: overrides)
            stack.removeLast()
        }

        mutating func renderInverted(_ value: Any?, _ body: Range<Int>, indentation: [UInt8], overrides: Overrides?) {
            guard let value else { return run(body, indentation: indentation, overrides: overrides) }
            if value is String { return }
            switch value {
            case let sequence as any MustacheSequence:
                if isEmpty(sequence) {
                    stack.append(Frame(sequence))
                    run(body, indentation: indentation, overrides: overrides)
                    stack.removeLast()
                }
            case let bool as Bool:
                if !bool { run(body, indentation: indentation, overrides: overrides) }
            case let null as MustacheCustomRenderable where null.isNull:
                run(body, indentation: indentation, overrides: overrides)
            default:
                return
            }
        }

        /// The body once per element, each on top of the stack (iterated where it is: copying the
        /// elements into an array of `Any` first was a box and its retains per row).
        mutating func renderEach<S: Sequence>(_ sequence: S, _ body: Range<Int>, indentation: [UInt8], overrides: Overrides?) {
            for element in sequence {
                stack.append(Frame(element))
                run(body, indentation: indentation, overrides: overrides)
                stack.removeLast()
            }
        }

        func isEmpty<S: Sequence>(_ sequence: S) -> Bool {
            var iterator = sequence.makeIterator()
            return iterator.next() == nil
        }

        /// A name's value: its first component from the innermost frame that has it, then each
        /// other component from what the previous one found. The stack is read in place, by index.
        func lookUp(_ index: Int) -> Any? {
            let top = stack.count - 1
            guard top >= 0 else { return nil }
            let name = names.baseAddress! + index
            if name.pointee.current { return stack[top].value }
            var found: Any?
            if name.pointee.fromTop {
                found = stack[top].value
            } else {
                guard let first = name.pointee.first else { return nil }
                var level = top
                while level >= 0 {
                    let child =
                        stack[level].parent != nil
                        ? stack[level].parent?.child(named: first) : Self.reflectedChild(first, of: stack[level].value)
                    if let child {
                        found = child
                        break
                    }
                    level -= 1
                }
            }
            for component in name.pointee.rest {
                guard let object = found, let child = Self.child(components[Int(component)], of: object) else { return nil }
                found = child
            }
            return found
        }

        /// A name's value in one object: by name for `MustacheParent` (dictionaries, and Kassa's
        /// views), else through `Mirror` as swift-mustache does.
        static func child(_ name: String, of object: Any) -> Any? {
            if let parent = object as? MustacheParent { return parent.child(named: name) }
            return reflectedChild(name, of: object)
        }

        static func reflectedChild(_ name: String, of object: Any) -> Any? {
            guard let value = Mirror(reflecting: object).children.first(where: { $0.label == name })?.value else { return nil }
            let mirror = Mirror(reflecting: value)
            guard mirror.displayStyle == .optional else { return value }
            return mirror.children.first?.value
        }

        mutating func write(_ value: Any, escaped: Bool) {
            let text: String
            switch value {
            case let string as String: text = string
            case let number as Int: text = String(number)
            case let renderable as MustacheCustomRenderable: text = renderable.renderText
            case let optional as OptionalValue: text = String(describing: optional.wrapped ?? value)
            default: text = String(describing: value)
            }
            escaped ? escape(text) : out.append(contentsOf: text.utf8)
        }

        /// HTML-escapes `text` into the output. Most values (dates, amounts, ids) hold nothing to
        /// escape and go in whole.
        mutating func escape(_ text: String) {
            let utf8 = text.utf8
            if !utf8.contains(where: {
                $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") || $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "'")
            }) {
                out.append(contentsOf: utf8)
                return
            }
            for byte in utf8 {
                switch byte {
                case UInt8(ascii: "<"): out.append(contentsOf: "&lt;".utf8)
                case UInt8(ascii: ">"): out.append(contentsOf: "&gt;".utf8)
                case UInt8(ascii: "&"): out.append(contentsOf: "&amp;".utf8)
                case UInt8(ascii: "\""): out.append(contentsOf: "&quot;".utf8)
                case UInt8(ascii: "'"): out.append(contentsOf: "&#39;".utf8)
                default: out.append(byte)
                }
            }
        }
    }
}
