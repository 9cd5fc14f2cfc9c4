import Foundation
import Logging
import PaymentCore
import PostgresNIO

/// Sends payers their receipts and refund notices (`payer_emails`, written by the notifications
/// consumer). Each is leased for two minutes before sending, so processes share the work; a send
/// that fails is retried when the lease runs out, for a day. The email carries the signed receipt
/// link, the same the checkout showed.
struct PayerEmailWorker: Sendable {
    let database: PostgresClient
    let smtp: SMTPClient
    let renderer: Renderer
    let signer: LinkSigner
    let baseURL: String
    let logger: Logger

    struct View: Sendable {
        let refund: Bool
        let heading: String
        let merchant: String
        /// The payment's amount (a receipt) or the refund's (a notice).
        let amount: String
        let paymentAmount: String
        let description: String
        let card: String?
        let date: String
        let paymentID: String
        let receiptURL: String
    }

    func sendBatch(limit: Int = 20) async throws -> Int {
        let rows = try await database.query(
            """
            UPDATE payer_emails e SET attempt_at = now()
            WHERE (e.account_id, e.event_id) IN (
                SELECT account_id, event_id FROM payer_emails
                WHERE sent_at IS NULL AND created_at > now() - interval '1 day'
                  AND (attempt_at IS NULL OR attempt_at < now() - interval '2 minutes')
                ORDER BY created_at LIMIT \(limit) FOR UPDATE SKIP LOCKED)
            RETURNING e.account_id, e.event_id, e.payment_id, e.kind, e.email, e.amount
            """,
            logger: logger
        )
        var due: [(AccountID, String, PaymentID, String, String, Int64)] = []
        for try await row in rows.decode((AccountID, String, PaymentID, String, String, Int64).self) { due.append(row) }
        var sent = 0
        for (account, eventID, paymentID, kind, email, amount) in due {
            guard let (payment, merchant) = try await paymentAndMerchant(account: account, id: paymentID) else { continue }
            let view = Self.view(
                kind: kind, amount: amount, payment: payment, merchant: merchant, receiptURL: baseURL + signer.receiptPath(paymentID: paymentID))
            do {
                try await smtp.send(
                    .init(
                        to: email, subject: view.heading, text: renderer.render(view, template: "emails/payer_text"),
                        html: renderer.render(view, template: "emails/payer_html")))
                try await database.query(
                    "UPDATE payer_emails SET sent_at = now() WHERE account_id = \(account) AND event_id = \(eventID)", logger: logger)
                sent += 1
            } catch {
                // The address is the payer's: it stays out of the log; the payment names the email.
                logger.warning("payer email failed; retrying later", metadata: ["payment_id": "\(paymentID)", "error": "\(error)"])
            }
        }
        return sent
    }

    static func view(kind: String, amount: Int64, payment: Payment, merchant: String, receiptURL: String) -> View {
        let refund = kind == "refund"
        let money = Money(minorUnits: amount, currency: payment.amount.currency).formatted
        return View(
            refund: refund,
            heading: refund ? "\(merchant) refunded \(money) to your card" : "Your receipt from \(merchant): \(money)",
            merchant: merchant, amount: money, paymentAmount: payment.amount.formatted, description: payment.description,
            card: payment.card.map { "\($0.brand.displayName) •••• \($0.last4)" }, date: Formats.dateTime(payment.createdAt),
            paymentID: payment.id.rawValue, receiptURL: receiptURL
        )
    }

    private func paymentAndMerchant(account: AccountID, id: PaymentID) async throws -> (Payment, String)? {
        let rows = try await database.query(
            """
            SELECT \(unescaped: PaymentColumns.sql), (SELECT name FROM accounts WHERE id = \(account)) AS merchant_name
            FROM payments WHERE account_id = \(account) AND id = \(id)
            """,
            logger: logger
        )
        for try await row in rows {
            return (try PaymentColumns.decode(row), try row.makeRandomAccess()["merchant_name"].decode(String.self))
        }
        return nil
    }
}
