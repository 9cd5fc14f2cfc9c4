import Foundation
import Hummingbird
import Logging
import PaymentCore
import PostgresNIO

/// In-app notifications: written by the outbox worker, read on `/notifications` and in the badge.
struct Notifications: Sendable {
    let database: PostgresClient
    let logger: Logger

    struct Item: Sendable {
        let id: String
        let type: String
        let title: String
        let body: String
        let link: String?
        let read: Bool
        let createdAt: Date
    }

    func list(accountID: AccountID, limit: Int = 100) async throws -> [Item] {
        let rows = try await database.query(
            """
            SELECT id, type, title, body, link, read_at IS NOT NULL, created_at FROM notifications
            WHERE account_id = \(accountID) ORDER BY (read_at IS NOT NULL), created_at DESC, id DESC LIMIT \(limit)
            """,
            logger: logger
        )
        var items: [Item] = []
        for try await (id, type, title, body, link, read, created) in rows.decode((String, String, String, String, String?, Bool, Date).self) {
            items.append(Item(id: id, type: type, title: title, body: body, link: link, read: read, createdAt: created))
        }
        return items
    }

    /// Unread notifications are counted up to this many (`PaymentHistory.unreadLimit`).
    static let badgeLimit = PaymentHistory.unreadLimit

    func unreadCount(accountID: AccountID) async throws -> Int {
        // On every merchant page (the badge): prepared, so PostgreSQL plans it once per connection.
        try await firstRow(database.execute(UnreadNotifications(key: accountID), logger: logger)).map(Int.init) ?? 0
    }

    /// Marks one notification read and returns where it points (nil when it is not the account's).
    func open(accountID: AccountID, id: String) async throws -> String?? {
        let rows = try await database.query(
            "UPDATE notifications SET read_at = coalesce(read_at, now()) WHERE account_id = \(accountID) AND id = \(id) RETURNING link",
            logger: logger
        )
        for try await link in rows.decode(String?.self) { return .some(link) }
        return nil
    }

    func markRead(accountID: AccountID, id: String?) async throws {
        if let id {
            try await database.query(
                "UPDATE notifications SET read_at = now() WHERE account_id = \(accountID) AND id = \(id) AND read_at IS NULL", logger: logger
            )
        } else {
            try await database.query("UPDATE notifications SET read_at = now() WHERE account_id = \(accountID) AND read_at IS NULL", logger: logger)
        }
    }
}

/// Puts the unread count on every page a signed-in merchant opens (one indexed count).
struct NotificationBadgeMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let notifications: Notifications
    /// Pages whose handler sets the count itself, read with the page's own data (a round trip fewer).
    static let countedByPage: Set<String> = ["/payments", "/dashboard"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // Form posts too: a form sent back with its errors is a page with the header like any other.
        guard request.method == .get || request.method == .post, let session = context.session else { return try await next(request, context) }
        // The history and the dashboard count them in their own statements (`PaymentHistory.firstPage`,
        // `Payments.dashboard`).
        if request.method == .get, let route = context.endpointPath, Self.countedByPage.contains(route) { return try await next(request, context) }
        var context = context
        context.unreadNotifications = try? await notifications.unreadCount(accountID: session.accountID)
        return try await next(request, context)
    }
}

/// How many of the merchant's notifications are unread, counted up to the badge's limit.
struct UnreadNotifications: KeyedStatement {
    static let name = "App.UnreadNotifications"
    static let sql = "SELECT \(PaymentHistory.unreadCountSQL)"
    var key: AccountID

    func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
}
