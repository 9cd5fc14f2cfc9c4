import Foundation
import Hummingbird
import PaymentCore
import Synchronization

/// The payer's side: the hosted checkout behind a signed link, and the signed receipt.
///
/// No merchant session and no CSRF cookie: the signed link and a signed, per-render attempt
/// token stand in for them, so the pages also work where cookies are blocked.
struct CheckoutController: Sendable {
    let payments: Payments
    let signer: LinkSigner
    let renderer: Renderer
    let limits: PayerLimits
    let clock: @Sendable () -> Date
    let suspensions: Suspensions
    /// Kassa sends email: payers get their receipt by email.
    var receiptsByEmail = false
    let pages = CheckoutPageCache()

    func addRoutes(to router: some RouterMethods<AppRequestContext>) {
        router.get("/pay/:id", use: self.show)
        router.post("/pay/:id", use: self.pay)
        router.get("/receipts/:id", use: self.receipt)
    }

    // MARK: view models

    struct CheckoutView: Sendable {
        let merchantName: String
        let description: String
        let amount: String
        let brands: [Brand]
        let action: String
        let token: String
        let form: [String: String]
        let errors: [String: String]
        let summary: FormState.Summary?
        let problem: String?
        let testMode: Bool
        /// Under the payer's email field: what the address is for.
        let emailHint: String
        /// After a decline: the declined payment, and its receipt.
        let declinedPaymentID: String?
        let declinedReceiptURL: String?
    }

    /// What the payer's email is for: their receipt when Kassa sends email, and the merchant.
    static func emailHint(merchant: String, receiptsByEmail: Bool) -> String {
        receiptsByEmail
            ? "We email your receipt here. \(merchant) also sees it with your payment."
            : "Shared with \(merchant) with your payment, so they can reach you about it."
    }

    struct Brand: Sendable {
        let network: String
        let name: String
    }

    struct ClosedView: Sendable {
        let heading: String
        let message: String
        let merchantName: String?
    }

    struct ReceiptView: Sendable {
        let status: String
        let statusClass: String
        let heading: String
        let detail: String?
        let amount: String
        let refunded: String?
        let merchantName: String
        let description: String
        let card: String?
        let date: String
        let paymentID: String
        let retryURL: String?
        let processing: Bool
        let liveURL: String
        /// The money moved: the merchant is "Paid to"; otherwise only the "Payee".
        let paid: Bool
    }

    static let cardFields = ["card_number", "exp_month", "cvc", "cardholder_name", "email"]

    // MARK: checkout

    /// Checks the signature before anything touches the database, then the link's own state.
    private func openLink(_ request: Request, context: AppRequestContext) async throws -> PaymentLink {
        let id = try context.parameters.require("id", as: LinkID.self)
        let query = request.uri.queryParameters
        let verdict = signer.verify(
            linkID: id, exp: query["exp"].map(String.init), kid: query["kid"].map(String.init), sig: query["sig"].map(String.init),
            now: Int64(clock().timeIntervalSince1970)
        )
        switch verdict {
        case .malformed, .unknownKey, .badSignature:
            throw PageError(
                status: .forbidden, heading: "This payment link is not valid",
                message: "Check that you opened the whole link, or ask the business that sent it for a new one."
            )
        case .expired:
            throw PageError(status: .gone, heading: "This payment link has expired", message: "Ask the business that sent it for a new link.")
        case .valid:
            break
        }
        // The link's terms never change; its state may have, so a payer is only ever turned away on
        // a fresh read (a use given back by a declined payment opens a used-up link again).
        guard var link = try await payments.links.find(id: id, fresh: false) else {
            throw PageError(status: .notFound, heading: "This payment link is not valid", message: "Ask the business that sent it for a new one.")
        }
        try await suspensions.refusePayers(link.accountID, payments: payments)
        if link.status(at: clock()) != .active, let fresh = try await payments.links.find(id: id, fresh: true) { link = fresh }
        let status = link.status(at: clock())
        guard status == .active else {
            // Used up only by a payment still in flight: it may yet fail and give its use back
            // (the server was killed mid-payment, say), so the payer hears "being paid", not "paid".
            if status == .completed, try await payments.hasPaymentInFlight(link) { throw try await closed(link, status: .active) }
            throw try await closed(link, status: status)
        }
        return link
    }

    /// The page for a link that can no longer be paid, saying why, with the merchant's name.
    private func closed(_ link: PaymentLink, status: LinkStatus) async throws -> PageError {
        let merchant = try await payments.links.merchantName(accountID: link.accountID)
        switch status {
        case .revoked:
            return PageError(
                status: .gone, heading: "This payment link is no longer active",
                message: "\(merchant) has turned this link off. Contact them if you still need to pay.")
        case .expired:
            return PageError(status: .gone, heading: "This payment link has expired", message: "Ask \(merchant) for a new link.")
        case .completed where link.maxUses == 1:
            return PageError(
                status: .gone, heading: "This payment link has already been paid",
                message: "\(merchant) has received the payment for “\(link.description)”. No further payment is needed.")
        case .completed:
            return PageError(
                status: .gone, heading: "This payment link has been used up",
                message: "It has taken all the payments \(merchant) allowed. Ask them for a new link.")
        case .active:
            return PageError(
                status: .conflict, heading: "This payment link is being paid", message: "A payment for it is in progress. Wait a moment and reload.")
        }
    }

    func show(_ request: Request, context: AppRequestContext) async throws -> Response {
        let link = try await openLink(request, context: context)
        return try await render(link, request: request, state: FormState(), problem: nil, context: context, status: .ok)
    }

    func pay(_ request: Request, context: AppRequestContext) async throws -> Response {
        let link = try await openLink(request, context: context)
        var request = request
        let body = try await request.collectBody(upTo: 64 * 1024)
        let form = FormData(urlEncoded: String(buffer: body))
        var state = FormState(values: [
            "exp_month": form["exp_month"] ?? "", "exp_year": form["exp_year"] ?? "",
            "cardholder_name": form["cardholder_name"] ?? "", "email": form["email"] ?? "",
        ])
        let token = form["attempt_token"]
        guard signer.verifyAttemptToken(token, for: link.id), let token else {
            return try await render(
                link, request: request, state: state, problem: "This page had expired. Check the details and pay again.", context: context,
                status: .badRequest
            )
        }
        let checked = Self.checkCard(form, now: clock())
        let email = form["email"] ?? ""
        if let problem = AccountService.emailProblem(email) { state.errors["email"] = problem }
        var card: CardDetails? = nil
        switch checked {
        case .success(let details): card = details
        case .failure(let list):
            for problem in list.problems { state.errors[problem.field] = problem.message }
            if list.keepsNumber { state.values["card_number"] = form["card_number"] ?? "" }
        }
        guard !state.hasErrors, let card else {
            // A double click or a retried POST: the first outcome, whatever this one says.
            if let earlier = try await payments.checkout.earlierOutcome(of: (link.accountID, link.id.rawValue, token)) {
                return try await answer(earlier, link: link, request: request, state: state, context: context)
            }
            return try await render(link, request: request, state: state, problem: nil, context: context, status: .unprocessableContent)
        }
        let signals = try await limits.admit(
            client: context.remoteAddress, subject: "link:\(link.id)", card: card, accountID: link.accountID, email: email)
        let outcome = try await payments.checkout.pay(
            CheckoutRequest(subject: .link(link), attemptToken: token, card: card, email: email, riskSignals: signals))
        if case .paid(let receipt) = outcome, receipt.status == .failed { try await limits.declined(card: card, accountID: link.accountID) }
        return try await answer(outcome, link: link, request: request, state: state, context: context)
    }

    /// The page or redirect for what the checkout came to.
    private func answer(
        _ outcome: CheckoutOutcome, link: PaymentLink, request: Request, state: FormState, context: AppRequestContext
    ) async throws -> Response {
        var state = state
        switch outcome {
        case .paid(let receipt), .replayed(let receipt):
            context.logger.info(
                "checkout",
                metadata: [
                    "payment_id": .string(receipt.paymentID.rawValue), "status": .string(receipt.status.rawValue),
                    "payment_link_id": .string(link.id.rawValue),
                ]
            )
            if receipt.status == .failed, let payment = try await payments.payment(id: receipt.paymentID) {
                // Declined: the page again with the reason on top and everything typed kept but the
                // card number and security code; a fresh attempt token makes the next card a new
                // payment, and the declined one keeps its receipt.
                let reason = payment.failureCode?.message ?? "The payment did not go through."
                return try await render(
                    link, request: request, state: state, problem: "Payment declined. \(reason) No money was taken.",
                    declined: payment.id, context: context, status: .paymentRequired)
            }
            return Response(status: .seeOther, headers: [.location: signer.receiptPath(paymentID: receipt.paymentID)])
        case .linkClosed(let status):
            throw try await closed(link, status: status)
        case .attemptInProgress:
            throw try await closed(link, status: .active)
        case .notFound, .formClosed:
            throw PageError(status: .notFound, heading: "This payment link is not valid", message: "Ask the business that sent it for a new one.")
        case .cardNotAccepted(let network, let issuer):
            let (merchant, methods) = try await payments.links.merchantWithMethods(accountID: link.accountID)
            let brands = try await acceptedBrands(link, methods: methods).map(\.name)
            let accepted = brands.isEmpty ? "" : " Cards accepted here: \(brands.joined(separator: ", "))."
            state.errors["card_number"] =
                issuer == network.displayName
                ? "\(merchant) does not take \(network.displayName) cards in \(link.amount.currency.code).\(accepted)"
                : "\(merchant) does not take cards from \(issuer) in \(link.amount.currency.code).\(accepted)"
            return try await render(link, request: request, state: state, problem: nil, context: context, status: .unprocessableContent)
        case .issuerUnavailable:
            return try await render(
                link, request: request, state: state, problem: DeclineCode.issuerUnavailable.message, context: context, status: .serviceUnavailable
            )
        case .amountOutOfRange:
            context.logger.error("checkout refused", metadata: ["payment_link_id": .string(link.id.rawValue), "error": "amount out of range"])
            return try await render(
                link, request: request, state: state, problem: "This business cannot take this payment right now. Contact them for help.",
                context: context, status: .unprocessableContent
            )
        }
    }

    /// The networks the payer may use for this link: the merchant's methods in the link's
    /// currency, narrowed to the link's methods when it names some.
    private func acceptedBrands(_ link: PaymentLink, methods all: [PaymentMethod]) async throws -> [Brand] {
        let catalog = try await payments.catalog()
        let methods = all.filter {
            $0.accepts(link.amount.currency) && (link.paymentMethodIDs.isEmpty || link.paymentMethodIDs.contains($0.id))
        }
        let networks = Set(methods.compactMap { catalog.issuer(id: $0.issuerID)?.network })
        return CardNetwork.allCases.filter(networks.contains).map { Brand(network: $0.rawValue, name: $0.displayName) }
    }

    private func render(
        _ link: PaymentLink, request: Request, state: FormState, problem: String?, declined: PaymentID? = nil, context: AppRequestContext,
        status: HTTPResponse.Status
    ) async throws -> Response {
        let (merchant, methods) = try await payments.links.merchantWithMethods(accountID: link.accountID)
        let brands = try await acceptedBrands(link, methods: methods)
        let token = signer.attemptToken(for: link.id)
        let view = { (token: String) in
            CheckoutView(
                merchantName: merchant, description: link.description, amount: link.amount.formatted, brands: brands,
                action: request.uri.description, token: token, form: state.values, errors: state.errors,
                summary: state.summary(order: Self.cardFields), problem: problem, testMode: true,
                emailHint: Self.emailHint(merchant: merchant, receiptsByEmail: receiptsByEmail),
                declinedPaymentID: declined?.rawValue, declinedReceiptURL: declined.map { signer.receiptPath(paymentID: $0) }
            )
        }
        let html: String
        if !state.hasErrors, state.values.isEmpty, problem == nil, context.flash == nil {
            // A first view: the same bytes for every payer of this link at this address but the
            // attempt token, so the page is rendered once and kept (`CheckoutPageCache`).
            let key = CheckoutPageCache.key(link: link.id, uri: request.uri.description, merchant: merchant, brands: brands.map(\.network))
            html = pages.page(key, token: token) { slot in
                renderer.html("checkout/pay", title: "Pay \(merchant)", view(slot), context: context, bodyClass: "checkout", payer: true)
            }
        } else {
            html = renderer.html("checkout/pay", title: "Pay \(merchant)", view(token), context: context, bodyClass: "checkout", payer: true)
        }
        var response = Renderer.response(html, status: status)
        response.headers[.init("Referrer-Policy")!] = "no-referrer"
        return response
    }

    /// The card fields of DESIGN.md as posted, checked against today's month (UTC).
    static func checkCard(_ form: FormData, now: Date) -> Result<CardDetails, CardDetails.ProblemList> {
        let today = UTCDay.components(now)
        return CardDetails.check(
            number: form["card_number"] ?? "", expMonth: form["exp_month"] ?? "", expYear: form["exp_year"] ?? "", cvc: form["cvc"] ?? "",
            holderName: form["cardholder_name"] ?? "", today: (today.year, today.month)
        )
    }

    // MARK: receipts

    func receipt(_ request: Request, context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id", as: PaymentID.self)
        guard signer.verifyReceipt(paymentID: id, sig: request.uri.queryParameters["sig"].map(String.init)) else {
            throw PageError(status: .forbidden, heading: "This receipt link is not valid", message: "Check that you opened the whole link.")
        }
        guard let payment = try await payments.payment(id: id) else { throw HTTPError(.notFound) }
        let merchant = try await payments.links.merchantName(accountID: payment.accountID)
        var retry: String? = nil
        if payment.status == .failed, let linkID = payment.paymentLinkID, let link = try await payments.links.find(id: linkID),
            link.status(at: clock()) == .active
        {
            retry = signer.path(linkID: link.id, expiresAt: Int64(link.expiresAt.timeIntervalSince1970))
        }
        let (heading, detail, statusClass) = Self.words(for: payment, merchant: merchant)
        var response = renderer.page(
            "receipts/show",
            title: heading,
            ReceiptView(
                status: payment.status.label, statusClass: statusClass, heading: heading, detail: detail, amount: payment.amount.formatted,
                refunded: payment.amountRefunded > 0 ? Money(minorUnits: payment.amountRefunded, currency: payment.amount.currency).formatted : nil,
                merchantName: merchant, description: payment.description,
                card: payment.card.map { "\($0.brand.displayName) •••• \($0.last4)" },
                date: Formats.dateTime(payment.createdAt), paymentID: payment.id.rawValue, retryURL: retry,
                processing: payment.status == .processing,
                liveURL: "/receipts/\(payment.id)/events?sig=\(signer.receiptSignature(paymentID: payment.id))",
                paid: payment.status.isCaptured
            ),
            context: context,
            bodyClass: "checkout",
            payer: true
        )
        response.headers[.init("Referrer-Policy")!] = "no-referrer"
        // Still waiting for the issuer: the page reloads itself until the outcome is in.
        if payment.status == .processing { response.headers[.init("Refresh")!] = "3" }
        return response
    }

    static func words(for payment: Payment, merchant: String) -> (String, String?, String) {
        switch payment.status {
        case .succeeded: ("Payment successful", "\(merchant) has received your payment. Keep this page as your receipt.", "ok")
        case .authorized:
            (
                "Payment authorized",
                "Your card issuer approved the payment and holds the amount; \(merchant) takes it when your order is confirmed. Nothing has been charged yet, and anything not taken is released.",
                "ok"
            )
        case .partiallyRefunded: ("Payment partly refunded", "\(merchant) has refunded part of this payment to your card.", "ok")
        case .refunded: ("Payment refunded", "\(merchant) has refunded this payment to your card.", "info")
        case .processing:
            (
                "Payment processing",
                "Your card issuer has not answered yet. This page updates by itself; you can also close it and open this link later.", "info"
            )
        case .failed: ("Payment declined", payment.failureCode?.message ?? "The payment did not go through. No money was taken.", "bad")
        case .requiresPayment: ("Waiting for payment", nil, "info")
        case .canceled: ("Payment canceled", "No money was taken.", "info")
        case .expired: ("Payment expired", "No money was taken.", "info")
        }
    }
}

/// The checkout page as rendered for a first view, per link and address, split around its attempt
/// token: a payer's view is the two halves with a fresh token between them. Rendering it was most of
/// the page's CPU (swift-mustache), while everything on it but the token is fixed by what the key
/// names: the link's terms never change, and the merchant's name and accepted brands are in the key.
/// Entries live a minute, so a merchant's renamed account shows within one.
final class CheckoutPageCache: Sendable {
    /// Rendered in place of the token; found again by the markup around it (an escaped description
    /// can never contain the quotes it includes).
    static let slot = "attempt-token-slot"
    static let marker = "name=\"attempt_token\" value=\"\(slot)\""

    private struct Halves: Sendable {
        let prefix: String
        let suffix: String
    }

    private let kept: ExpiringCache<String, Halves>
    private let counts = Mutex((hits: 0, renders: 0))

    /// At most `capacity` pages (~8 KB each).
    init(ttl: Duration = .seconds(60), capacity: Int = 2_000) {
        self.kept = ExpiringCache(ttl: ttl, capacity: capacity)
    }

    static func key(link: LinkID, uri: String, merchant: String, brands: [String]) -> String {
        [link.rawValue, uri, merchant, brands.joined(separator: ",")].joined(separator: "\n")
    }

    /// The page for `token`: from the kept halves, or rendered by `render` (given the slot as token)
    /// and kept. A render without exactly one slot is returned as rendered for this token, not kept.
    func page(_ key: String, token: String, render: (String) -> String) -> String {
        if let halves = kept.get(key) {
            counts.withLock { $0.hits += 1 }
            return halves.prefix + "name=\"attempt_token\" value=\"" + token + "\"" + halves.suffix
        }
        counts.withLock { $0.renders += 1 }
        let html = render(Self.slot)
        let parts = html.components(separatedBy: Self.marker)
        guard parts.count == 2 else { return html.replacingOccurrences(of: Self.marker, with: "name=\"attempt_token\" value=\"" + token + "\"") }
        kept.put(key, Halves(prefix: parts[0], suffix: parts[1]))
        return parts[0] + "name=\"attempt_token\" value=\"" + token + "\"" + parts[1]
    }

    /// How many views came from kept halves and how many were rendered (for tests and metrics).
    var statistics: (hits: Int, renders: Int) { counts.withLock { $0 } }
}

extension HTTPResponse.Status {
    /// 402: a declined card's checkout, shown again (HTTPTypes names no constant for it).
    static var paymentRequired: Self { .init(code: 402, reasonPhrase: "Payment Required") }
}
