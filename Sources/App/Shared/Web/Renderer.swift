import Hummingbird
import Mustache

/// Renders pages from `Templates/` inside the layout.
public struct Renderer: Sendable {
    let templates: PageTemplates
    /// swift-mustache over the same files, when every render is to be checked against it (tests).
    let reference: Reference?

    struct Reference: Sendable {
        let library: MustacheLibrary
        /// Told the template's name and the first byte where the two renderings part.
        let mismatch: @Sendable (_ template: String, _ offset: Int, _ ours: String, _ theirs: String) -> Void
    }

    /// Templates every page relies on; start-up stops when one is missing.
    static let required = [
        "layout", "partials/header", "partials/flash", "partials/form_errors",
        "accounts/signup", "accounts/login", "accounts/settings", "dashboard/index", "dashboard/charts", "partials/volume_chart", "errors/error",
        "payment_methods/index", "partials/payer_header", "partials/card_fields", "checkout/pay", "receipts/show",
        "links/index", "links/new", "links/show", "payments/index", "payments/show", "partials/payment_rows", "developers/keys", "developers/docs",
        "forms/index", "forms/edit", "forms/show", "embed/form", "embed/result", "notifications/index", "developers/webhooks", "developers/webhook",
        "emails/notification_text", "emails/notification_html", "accounts/forgot", "accounts/reset", "emails/password_reset_text",
        "emails/password_reset_html", "emails/payer_text", "emails/payer_html", "ops/index", "ops/merchant",
    ]

    public struct MissingTemplates: Error, CustomStringConvertible {
        public var names: [String]
        public var description: String { "templates missing: " + names.joined(separator: ", ") }
    }

    /// `compare`: render everything with swift-mustache too and report where the two differ.
    init(
        directory: String,
        compare: (@Sendable (_ template: String, _ offset: Int, _ ours: String, _ theirs: String) -> Void)? = nil
    ) async throws {
        let templates = try PageTemplates(directory: directory)
        let missing = Self.required.filter { !templates.contains($0) }
        guard missing.isEmpty else { throw MissingTemplates(names: missing) }
        self.templates = templates
        if let compare {
            self.reference = Reference(library: try await MustacheLibrary(directory: directory), mismatch: compare)
        } else {
            self.reference = nil
        }
    }

    /// A template on its own (emails), without the page layout.
    func render<Object: Sendable>(_ object: Object, template: String) -> String {
        rendered(MustacheBox.box(object) ?? object, template: template) ?? ""
    }

    private func rendered(_ object: Any, template: String) -> String? {
        renderedBytes(object, template: template).map { String(decoding: $0, as: UTF8.self) }
    }

    private func renderedBytes(_ object: Any, template: String) -> [UInt8]? {
        let bytes = templates.bytes(object, template: template)
        if let reference {
            for problem in ViewParity.problems(in: object) { reference.mismatch(template, -1, problem, "") }
            let html = bytes.map { String(decoding: $0, as: UTF8.self) }
            let theirs = reference.library.render(object, withTemplate: template)
            if html != theirs {
                let ours = bytes ?? []
                let other = Array((theirs ?? "").utf8)
                let offset = zip(ours, other).prefix { $0 == $1 }.count
                reference.mismatch(template, offset, html ?? "(nil)", theirs ?? "(nil)")
            }
        }
        return bytes
    }

    /// What the layout shows around every page.
    struct Layout<Page>: Sendable where Page: Sendable {
        let title: String
        let user: HeaderUser?
        let csrf: String
        let flash: FlashView?
        let page: Page
        let bodyClass: String
        /// A payer's page (checkout, receipt): no merchant navigation.
        let payer: Bool
        /// What the signed-in person's role lets them do (`can.develop`, `can.administer`,
        /// `can.own`), so a page shows only the actions it will accept; the server checks anyway.
        let can: [String: Bool]
    }

    struct HeaderUser: Sendable {
        let name: String
        let email: String
        let accountName: String
        let initials: String
        /// Unread notifications, for the badge (nil when none; "99+" from the count's limit on).
        let unread: String?
        /// The navigation's section this page belongs to: `current.payments` is true on /payments….
        let current: [String: Bool]
        /// A platform operator: the console's navigation instead of a business's.
        let isOperator: Bool
        /// Why the business is suspended, when it is.
        let suspended: String?

        /// The header's section of a path: its first segment, with /docs under developers.
        static func section(of path: String) -> String {
            let first = path.split(separator: "/").first.map(String.init) ?? ""
            switch first {
            case "docs": return "developers"
            case "payment-methods": return "methods"
            default: return first
            }
        }
    }

    struct FlashView: Sendable {
        let message: String
        let kind: String
    }

    /// A full HTML page.
    func page<Page: Sendable>(
        _ template: String,
        title: String,
        _ page: Page,
        context: some PageContext,
        status: HTTPResponse.Status = .ok,
        bodyClass: String = "",
        payer: Bool = false
    ) -> Response {
        let layout = self.layout(title: title, page, context: context, bodyClass: bodyClass, payer: payer)
        // Straight from the rendered bytes into the body: no `String` made and checked on the way.
        guard let bytes = renderedBytes(layout, template: template) else { return Self.response(Self.missing(template), status: status) }
        return Response(
            status: status,
            headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }

    /// A page's HTML in the layout, for a caller that keeps it (the checkout page).
    func html<Page: Sendable>(
        _ template: String, title: String, _ page: Page, context: some PageContext, bodyClass: String = "", payer: Bool = false
    ) -> String {
        rendered(layout(title: title, page, context: context, bodyClass: bodyClass, payer: payer), template: template) ?? Self.missing(template)
    }

    static func missing(_ template: String) -> String {
        "<!doctype html><title>Kassa</title><p>Missing template \(template)</p>"
    }

    /// The layout around a page, its page boxed once (see `MustacheBox`).
    private func layout<Page: Sendable>(title: String, _ page: Page, context: some PageContext, bodyClass: String, payer: Bool) -> Any {
        let user =
            payer
            ? nil
            : context.signedIn.map { session in
                HeaderUser(
                    name: session.userName,
                    email: session.email,
                    accountName: session.accountName,
                    initials: String(session.userName.split(separator: " ").prefix(2).compactMap(\.first)).uppercased(),
                    unread: context.unreadNotifications.flatMap { count in
                        count <= 0 ? nil : count >= Notifications.badgeLimit ? "\(Notifications.badgeLimit - 1)+" : "\(count)"
                    },
                    current: [HeaderUser.section(of: context.path): true],
                    isOperator: session.isOperator,
                    suspended: context.suspension
                )
            }
        let layout = Layout(
            title: title,
            user: user,
            csrf: context.csrfToken,
            flash: context.flash.map { FlashView(message: $0.message, kind: $0.kind) },
            page: page,
            bodyClass: bodyClass,
            payer: payer,
            can: context.signedIn.map { session in
                ["develop": session.role >= .developer, "administer": session.role >= .admin, "own": session.role == .owner]
            } ?? [:]
        )
        return MustacheBox.box(layout) ?? layout
    }

    static func response(_ html: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: html))
        )
    }
}

/// A view model turned into dictionaries once per render. swift-mustache looks a name up in a plain
/// struct through `Mirror`, anew for every tag and for every level of the context stack it climbs
/// (the layout is the bottom of every stack), and reflects once more on each value it finds; that
/// was most of the server's CPU on the checkout page (perf, `make bench`). Dictionaries are looked
/// up directly (`MustacheParent`). The result renders the same: a nil optional leaves its name out,
/// as Mirror's lookup did; values that print themselves (`CustomStringConvertible`, such as Money
/// or Date), mustache's own kinds (lambdas, templates, custom renderables) and enums stay as they are.
enum MustacheBox {
    static func box(_ value: Any) -> Any? {
        switch value {
        case is String, is Substring, is Int, is Int64, is Bool, is Double:
            return value
        case is MustacheParent, is MustacheLambda, is MustacheTemplate, is MustacheCustomRenderable, is MustacheCustomRepresentation,
            is KeptRowList:
            return value
        default:
            break
        }
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .optional:
            return mirror.children.first.flatMap { box($0.value) }
        case .collection:
            return mirror.children.compactMap { box($0.value) }
        case .struct, .class:
            if value is CustomStringConvertible { return value }
            var fields: [String: Any] = [:]
            for child in mirror.children {
                if let label = child.label, let boxed = box(child.value) { fields[label] = boxed }
            }
            return fields
        default:
            return value
        }
    }
}

/// A form's values and the message next to each field that needs one.
struct FormState: Sendable {
    var values: [String: String] = [:]
    var errors: [String: String] = [:]

    var hasErrors: Bool { !errors.isEmpty }

    /// For the summary at the top of the form, in the order the fields appear.
    func summary(order: [String]) -> Summary? {
        let items = order.compactMap { name in errors[name].map { FieldError(field: name, message: $0) } }
        return items.isEmpty ? nil : Summary(items: items)
    }

    struct Summary: Sendable {
        let items: [FieldError]
    }

    struct FieldError: Sendable {
        let field: String
        let message: String
    }
}

// The layout around every page, looked up by name: it is the bottom of every context stack, so
// swift-mustache climbs to it for every name a page does not have. Its page is boxed once.
extension Renderer.Layout: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "title": title
        case "user": user
        case "csrf": csrf
        case "flash": flash
        case "page": MustacheBox.box(page)
        case "bodyClass": bodyClass
        case "payer": payer
        case "can": can
        default: nil
        }
    }
}

extension Renderer.HeaderUser: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "name": self.name
        case "email": email
        case "accountName": accountName
        case "initials": initials
        case "unread": unread
        case "current": current
        case "isOperator": isOperator
        case "suspended": suspended
        default: nil
        }
    }
}

extension Renderer.FlashView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "message": message
        case "kind": kind
        default: nil
        }
    }
}

/// Checks, when every render is compared (tests), that each view answering by name
/// (`MustacheParent`, written by hand for speed) answers for every stored property it has: a name
/// left out of its `child(named:)` would render as empty in both renderers alike, unnoticed.
enum ViewParity {
    static func problems(in value: Any) -> [String] {
        var problems: [String] = []
        check(value, path: "", into: &problems)
        return problems
    }

    private static func check(_ value: Any, path: String, into problems: inout [String]) {
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .optional, .collection:
            for (index, child) in mirror.children.enumerated() { check(child.value, path: path + "[\(index)]", into: &problems) }
        case .dictionary:
            for child in mirror.children {
                let pair = Mirror(reflecting: child.value).children.map(\.value)
                if pair.count == 2 { check(pair[1], path: path + "[\(pair[0])]", into: &problems) }
            }
        case .struct:
            guard let parent = value as? MustacheParent else {
                for child in mirror.children { check(child.value, path: path + "." + (child.label ?? "?"), into: &problems) }
                return
            }
            for child in mirror.children {
                guard let label = child.label else { continue }
                let field = Mirror(reflecting: child.value)
                let isNil = field.displayStyle == .optional && field.children.isEmpty
                if !isNil, parent.child(named: label) == nil {
                    problems.append("\(type(of: value)) does not answer for '\(label)' (at \(path.isEmpty ? "the top" : path))")
                }
                check(child.value, path: path + "." + label, into: &problems)
            }
        default:
            return
        }
    }
}

// Every form's error summary, rendered by name (see `ViewParity`).
extension FormState.Summary: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "items": self.items
        default: nil
        }
    }
}

extension FormState.FieldError: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "field": self.field
        case "message": self.message
        default: nil
        }
    }
}
