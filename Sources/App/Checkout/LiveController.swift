import Crypto
import Foundation
import Hummingbird
import PaymentCore
import PostgresNIO

/// Server-Sent Events: pages learn of payment changes without reloading by hand. A progressive
/// enhancement — every page works without it (receipts also refresh themselves while processing).
/// Every stream is fed by the process's one `LiveFeed`, and each session and client address may
/// hold only so many.
struct LiveController: Sendable {
    let database: PostgresClient
    let payments: Payments
    let signer: LinkSigner
    let feed: LiveFeed

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

    /// 429 when the session or the address already holds its share of streams (EventSource then
    /// stops; the page works on without live updates).
    static func tooMany() -> HTTPError {
        HTTPError(.tooManyRequests, headers: [.retryAfter: "30"], message: "Too many live streams are open; close some pages.")
    }

    func merchantStream(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        guard let slot = feed.slot(session: Hex.string(SHA256.hash(data: Array(session.id.utf8))), address: context.request.remoteAddress) else {
            throw Self.tooMany()
        }
        let account = session.accountID
        let database = self.database
        let logger = context.logger
        let resumeAfter = Int64(request.headers[.init("Last-Event-ID")!] ?? "")
        let lifetime = Self.lifetime(request)
        let subscription = try await feed.subscribe(accountID: account.rawValue)
        return Response(
            status: .ok, headers: Self.headers,
            body: ResponseBody { writer in
                _ = slot
                let deadline = ContinuousClock.now.advanced(by: lifetime)
                var lastBeat = ContinuousClock.now
                var sent = Set<Int64>()
                try await writer.write(ByteBuffer(string: "retry: 3000\n\n"))
                // A reconnecting EventSource says what it saw last: what it missed comes from one
                // query of its own; from then on the shared reader's events.
                if let resumeAfter {
                    let rows = try await database.query(
                        """
                        SELECT seq, type, coalesce(payment_id, ''), coalesce(payment_link_id, '') FROM payment_events
                        WHERE account_id = \(account) AND seq > \(resumeAfter) ORDER BY seq LIMIT 50
                        """,
                        logger: logger
                    )
                    var text = ""
                    for try await (seq, type, payment, link) in rows.decode((Int64, String, String, String).self) {
                        sent.insert(seq)
                        text += Self.change(LiveFeed.Event(seq: seq, accountID: account.rawValue, type: type, paymentID: payment, linkID: link))
                    }
                    if !text.isEmpty { try await writer.write(ByteBuffer(string: text)) }
                }
                var text = ""
                try await subscription.consume { messages in
                    for await message in messages {
                        switch message {
                        case .event(let event):
                            if !sent.contains(event.seq) { text += Self.change(event) }
                        case .tick:
                            if !text.isEmpty {
                                try await writer.write(ByteBuffer(string: text))
                                text = ""
                                lastBeat = ContinuousClock.now
                            } else if ContinuousClock.now - lastBeat > .seconds(15) {
                                try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                                lastBeat = ContinuousClock.now
                            }
                        }
                        if ContinuousClock.now >= deadline { break }
                    }
                }
                try await writer.finish(nil)
            })
    }

    static func change(_ event: LiveFeed.Event) -> String {
        let data = JSON.object([("type", .string(event.type)), ("payment", .string(event.paymentID)), ("payment_link", .string(event.linkID))]).text
        return "id: \(event.seq)\nevent: change\ndata: \(data)\n\n"
    }

    func receiptStream(_ request: Request, context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id", as: PaymentID.self)
        guard signer.verifyReceipt(paymentID: id, sig: request.uri.queryParameters["sig"].map(String.init)) else {
            throw HTTPError(.forbidden)
        }
        guard let slot = feed.slot(session: nil, address: context.remoteAddress) else { throw Self.tooMany() }
        guard let first = try await payments.payment(id: id) else { throw HTTPError(.notFound) }
        let subscription = try await feed.subscribe(accountID: first.accountID.rawValue, paymentID: id.rawValue)
        let payments = self.payments
        let lifetime = Self.lifetime(request)
        return Response(
            status: .ok, headers: Self.headers,
            body: ResponseBody { writer in
                _ = slot
                var status = first.status
                let deadline = ContinuousClock.now.advanced(by: lifetime)
                try await writer.write(ByteBuffer(string: "retry: 3000\nevent: status\ndata: \(status.rawValue)\n\n"))
                // Until the payer's outcome is in; refunds later do not concern this page. The
                // payment is read again only when the log has an event of it.
                // Read once more at the first tick: a change between the read above and the
                // subscription would otherwise go unseen.
                var changed = true
                try await subscription.consume { messages in
                    for await message in messages {
                        guard status == .processing || status == .requiresPayment, ContinuousClock.now < deadline else { break }
                        switch message {
                        case .event: changed = true
                        case .tick:
                            if changed, let now = try await payments.payment(id: id)?.status, now != status {
                                status = now
                                try await writer.write(ByteBuffer(string: "event: status\ndata: \(status.rawValue)\n\n"))
                            }
                            changed = false
                        }
                    }
                }
                try await writer.finish(nil)
            })
    }
}
