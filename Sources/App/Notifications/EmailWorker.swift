import Foundation
import Logging
import PaymentCore
import PostgresNIO

/// Emails notifications to the people of the account who asked for that kind of event.
/// Each notification is leased (two minutes) before sending, so processes share the work; a
/// send that fails is retried when the lease runs out, for a day.
struct EmailWorker: Sendable {
    let database: PostgresClient
    let smtp: SMTPClient
    let renderer: Renderer
    let baseURL: String
    let logger: Logger

    struct EmailView: Sendable {
        let title: String
        let body: String?
        let url: String?
        let settingsURL: String
    }

    /// Security notices reach people whether or not they asked for email.
    static let alwaysEmailed = [AccountStore.signInPausedType]

    func sendBatch(limit: Int = 20) async throws -> Int {
        let rows = try await database.query(
            """
            UPDATE notifications n SET email_attempt_at = now()
            WHERE (n.account_id, n.id) IN (
                SELECT account_id, id FROM notifications
                WHERE emailed_at IS NULL AND created_at > now() - interval '1 day'
                  AND (email_attempt_at IS NULL OR email_attempt_at < now() - interval '2 minutes')
                ORDER BY created_at LIMIT \(limit) FOR UPDATE SKIP LOCKED)
            RETURNING n.account_id, n.id, n.type, n.title, n.body, n.link
            """,
            logger: logger
        )
        var due: [(String, String, String, String, String, String?)] = []
        for try await row in rows.decode((String, String, String, String, String, String?).self) { due.append(row) }
        var sent = 0
        for (account, id, type, title, body, link) in due {
            let recipients = try await database.query(
                """
                SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
                WHERE m.account_id = \(account) AND (\(type) = ANY(m.email_events) OR \(type) = ANY(\(Self.alwaysEmailed)))
                ORDER BY u.email
                """,
                logger: logger
            )
            var emails: [String] = []
            for try await email in recipients.decode(String.self) { emails.append(email) }
            do {
                let view = EmailView(
                    title: title, body: body.isEmpty ? nil : body, url: link.map { baseURL + $0 }, settingsURL: baseURL + "/settings")
                for email in emails {
                    try await smtp.send(
                        .init(
                            to: email, subject: title, text: renderer.render(view, template: "emails/notification_text"),
                            html: renderer.render(view, template: "emails/notification_html")
                        )
                    )
                }
                try await database.query("UPDATE notifications SET emailed_at = now() WHERE account_id = \(account) AND id = \(id)", logger: logger)
                sent += 1
            } catch {
                logger.warning("notification email failed; retrying later", metadata: ["notification_id": "\(id)", "error": "\(error)"])
            }
        }
        return sent
    }
}
