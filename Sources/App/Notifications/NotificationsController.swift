import Hummingbird
import Mustache

/// `/notifications`: what happened to the merchant's payments, unread first.
struct NotificationsController: Sendable {
    let notifications: Notifications
    let renderer: Renderer
    let secureCookies: Bool

    func addRoutes(to router: RouterGroup<MerchantContext>) {
        router.get("/notifications", use: self.list)
        router.post("/notifications/read", use: self.readAll)
        router.post("/notifications/:id/read", use: self.readOne)
        router.get("/notifications/:id/open", use: self.open)
    }

    /// Following a notification's link marks it read (a harmless change, so a plain link may make it).
    func open(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        guard let link = try await notifications.open(accountID: session.accountID, id: try context.parameters.require("id")) else {
            throw HTTPError(.notFound)
        }
        return Response(
            status: .seeOther, headers: [.location: link.flatMap { $0.hasPrefix("/") && !$0.hasPrefix("//") ? $0 : nil } ?? "/notifications"])
    }

    struct Item: Sendable {
        let id: String
        let title: String
        let body: String
        let link: String?
        let unread: Bool
        let time: String
    }

    struct PageView: Sendable {
        let items: [Item]
        let hasItems: Bool
        let unread: Int
    }

    func list(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let items = try await notifications.list(accountID: session.accountID)
        return renderer.page(
            "notifications/index",
            title: "Notifications",
            PageView(
                items: items.map {
                    Item(id: $0.id, title: $0.title, body: $0.body, link: $0.link, unread: !$0.read, time: Formats.dateTime($0.createdAt))
                },
                hasItems: !items.isEmpty, unread: items.filter { !$0.read }.count
            ),
            context: context
        )
    }

    func readAll(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        try await notifications.markRead(accountID: session.accountID, id: nil)
        return .redirect(to: "/notifications", secureCookies: secureCookies)
    }

    func readOne(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        try await notifications.markRead(accountID: session.accountID, id: try context.parameters.require("id"))
        return .redirect(to: "/notifications", secureCookies: secureCookies)
    }
}

// Views rendered by name, not through Mirror (see `ViewParity`).
extension NotificationsController.Item: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": self.id
        case "title": self.title
        case "body": self.body
        case "link": self.link
        case "unread": self.unread
        case "time": self.time
        default: nil
        }
    }
}

extension NotificationsController.PageView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "items": self.items
        case "hasItems": self.hasItems
        case "unread": self.unread
        default: nil
        }
    }
}
