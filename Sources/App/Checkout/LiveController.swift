import Foundation
import Hummingbird
import PaymentCore
import PostgresNIO

/// Server-Sent Events: pages learn of payment changes without reloading by hand. A progressive
/// enhancement — every page works without it (receipts also refresh themselves while processing).
struct LiveController: Sendable {
    let database: PostgresClient
    let payments: Payments
    let signer: LinkSigner

    /// Merchant stream: every new event of the account.
    func addMerchantRoutes(to router: RouterGroup<MerchantContext>) {
        router.get("/events/stream", use: self.merchantStream)
    }

    /// Payer stream: one payment's status, behind the receipt's signature.
    func addPayerRoutes(to router: some RouterMethods<AppRequestContext>) {
        router.get("/receipts/:id/events", use: self.receiptStream)
    }

    static let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-store", .init("X-Accel-Buffering")!: "no"]

    /// How long one connection lasts (`wait`, seconds, at most 300); EventSource reconnects.
    static func lifetime(_ request: Request) -> Duration {
        .seconds(request.uri.queryParameters["wait"].flatMap { Int(String($0)) }.map { min(max($0, 1), 300) } ?? 300)
    }

    func merchantStream(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let account = session.accountID
        let database = self.database
        let logger = context.logger
        var last = Int64(request.headers[.init("Last-Event-ID")!] ?? "") ?? -1
        if last < 0 {
            let rows = try await database.query("SELECT coalesce(max(seq), 0) FROM payment_events WHERE account_id = \(account)", logger: logger)
            for try await value in rows.decode(Int64.self) { last = value }
        }
        let start = last
        let lifetime = Self.lifetime(request)
        return Response(
            status: .ok, headers: Self.headers,
            body: ResponseBody { writer in
                var cursor = start
                let deadline = ContinuousClock.now.advanced(by: lifetime)
                var lastBeat = ContinuousClock.now
                try await writer.write(ByteBuffer(string: "retry: 3000\n\n"))
                while ContinuousClock.now < deadline {
                    let rows = try await database.query(
                        """
                        SELECT seq, type, coalesce(payment_id, ''), coalesce(payment_link_id, '') FROM payment_events
                        WHERE account_id = \(account) AND seq > \(cursor) ORDER BY seq LIMIT 50
                        """,
                        logger: logger
                    )
                    var text = ""
                    for try await (seq, type, payment, link) in rows.decode((Int64, String, String, String).self) {
                        cursor = seq
                        let data = JSON.object([("type", .string(type)), ("payment", .string(payment)), ("payment_link", .string(link))]).text
                        text += "id: \(seq)\nevent: change\ndata: \(data)\n\n"
                    }
                    if !text.isEmpty {
                        try await writer.write(ByteBuffer(string: text))
                    } else if ContinuousClock.now - lastBeat > .seconds(15) {
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                        lastBeat = ContinuousClock.now
                    }
                    try await Task.sleep(for: .seconds(1))
                }
                try await writer.finish(nil)
            })
    }

    func receiptStream(_ request: Request, context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id", as: PaymentID.self)
        guard signer.verifyReceipt(paymentID: id, sig: request.uri.queryParameters["sig"].map(String.init)) else {
            throw HTTPError(.forbidden)
        }
        guard let first = try await payments.payment(id: id) else { throw HTTPError(.notFound) }
        let payments = self.payments
        let lifetime = Self.lifetime(request)
        return Response(
            status: .ok, headers: Self.headers,
            body: ResponseBody { writer in
                var status = first.status
                let deadline = ContinuousClock.now.advanced(by: lifetime)
                try await writer.write(ByteBuffer(string: "retry: 3000\nevent: status\ndata: \(status.rawValue)\n\n"))
                // Until the payer's outcome is in; refunds later do not concern this page.
                while ContinuousClock.now < deadline && (status == .processing || status == .requiresPayment) {
                    try await Task.sleep(for: .seconds(1))
                    if let now = try await payments.payment(id: id)?.status, now != status {
                        status = now
                        try await writer.write(ByteBuffer(string: "event: status\ndata: \(status.rawValue)\n\n"))
                    }
                }
                try await writer.finish(nil)
            })
    }
}
