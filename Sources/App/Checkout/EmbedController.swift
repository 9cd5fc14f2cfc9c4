import Foundation
import Hummingbird
import PaymentCore

/// `/embed/forms/{id}`: the payer's side of a business payment form, framed by the merchant's
/// site (only from its allowed origins) or opened as a plain link.
struct EmbedController: Sendable {
    let payments: Payments
    let signer: LinkSigner
    let renderer: Renderer
    let limits: PayerLimits
    let suspensions: Suspensions
    /// Kassa sends email: payers get their receipt by email.
    var receiptsByEmail = false

    func addRoutes(to router: some RouterMethods<AppRequestContext>) {
        router.get("/embed/forms/:id", use: self.show)
        router.post("/embed/forms/:id", use: self.pay)
        router.get("/embed/forms/:id/result", use: self.result)
        router.get("/embed/forms/:id/theme.css", use: self.theme)
        router.get("/embed/forms/:id/origin", use: self.originCheck)
    }

    /// Whether the form may be embedded on `?origin=`: `embed.js` asks before it makes the frame, so
    /// a site that is not allowed shows its owner a box naming the origin to add, instead of the
    /// browser's grey refusal (`frame-ancestors`) with the reason only in the console. Readable from
    /// any site; it says nothing about which sites are allowed.
    func originCheck(_ request: Request, context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id", as: FormID.self)
        let raw = request.uri.queryParameters["origin"].map(String.init) ?? ""
        let origin = FormRules.origin(raw)
        let form = id.isWellFormed ? try await payments.forms.find(id: id, fresh: false) : nil
        let status: String
        if let form {
            status = !form.isOpen(at: Date()) ? "closed" : origin.map(form.allowedOrigins.contains) == true ? "allowed" : "not_allowed"
        } else {
            status = "not_found"
        }
        let body = JSON.object([("status", .string(status)), ("origin", .string(origin ?? raw))]).text
        return Response(
            status: .ok,
            headers: [.contentType: "application/json", .cacheControl: "no-store", .accessControlAllowOrigin: "*"],
            body: .init(byteBuffer: ByteBuffer(string: body))
        )
    }

    /// The form's brand colour as a stylesheet (the pages allow no inline styles).
    func theme(_ request: Request, context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id", as: FormID.self)
        let color = try await payments.forms.find(id: id, fresh: false).map(\.brandColor) ?? "#1f5f8b"
        return Response(
            status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "public, max-age=60"],
            body: .init(byteBuffer: ByteBuffer(string: ":root { --form-brand: \(color); }\n"))
        )
    }

    struct FieldView: Sendable {
        let key: String
        let label: String
        let inputType: String
        let isSelect: Bool
        let required: Bool
        let options: [Choice]
        let value: String
        let error: String?
    }

    struct Choice: Sendable {
        let value: String
        let selected: Bool
    }

    struct FormView: Sendable {
        let id: String
        let title: String
        let description: String
        let fixedAmount: String?
        let currency: String
        let range: String?
        let fields: [FieldView]
        let action: String
        let token: String
        let buttonLabel: String
        let brandColor: String
        let parentOrigin: String
        let form: [String: String]
        let errors: [String: String]
        let summary: FormState.Summary?
        let problem: String?
        /// Under the payer's email field: what the address is for.
        let emailHint: String
        /// After a decline: the declined payment (the frame reports kassa:failure), and its receipt.
        let declinedPaymentID: String?
        let declinedReceiptURL: String?
    }

    struct ResultView: Sendable {
        let success: Bool
        /// The payment's status as every other page words it ("Succeeded", "Failed").
        let status: String
        let statusClass: String
        let heading: String
        let detail: String?
        let amount: String
        let card: String?
        let paymentID: String
        let retryURL: String?
        let parentOrigin: String
        let redirect: String
        let outcome: String
        let receiptURL: String
    }

    /// `frame-ancestors` lists the form's allowed origins (and Kassa itself, for the preview), in
    /// their ASCII form (an origin saved before that rule is converted here).
    static func contentSecurityPolicy(origins: [String]) -> String {
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; object-src 'none'; "
            + "frame-ancestors 'self'" + origins.compactMap(FormRules.origin).map { " " + $0 }.joined()
    }

    /// The form, a signed session's amount, and a signed session's realm.
    private func openForm(_ request: Request, context: AppRequestContext) async throws -> (PaymentForm, Int64?, String?) {
        let id = try context.parameters.require("id", as: FormID.self)
        guard id.isWellFormed, var form = try await payments.forms.find(id: id, fresh: false) else {
            throw PageError(
                status: .notFound, heading: "This payment form does not exist",
                message: "Check the address, or ask the business for its payment page.")
        }
        try await suspensions.refusePayers(form.accountID, payments: payments)
        // A payer is only ever turned away on a fresh read (see CheckoutCache).
        if !form.isOpen(at: Date()), let fresh = try await payments.forms.find(id: id, fresh: true) { form = fresh }
        guard form.isOpen(at: Date()) else {
            throw PageError(
                status: .gone, heading: "This payment form is closed",
                message: "It no longer takes payments. Contact the business if you still need to pay.")
        }
        // A checkout session from the merchant's own page may fix the amount, signed.
        let query = request.uri.queryParameters
        var sessionAmount: Int64? = nil
        var sessionRealm: String? = nil
        var hasSession = false
        if let sig = query["sig"].map(String.init) {
            let amount = query["amount"].map(String.init)
            let realm = query["realm"].map(String.init)
            switch signer.verifyFormSession(
                formID: form.id, amount: amount, exp: query["exp"].map(String.init), kid: query["kid"].map(String.init), sig: sig,
                now: Int64(Date().timeIntervalSince1970), realm: realm
            ) {
            case .valid:
                sessionAmount = amount.flatMap { Int64($0) }
                sessionRealm = realm
                hasSession = true
            case .expired:
                throw PageError(status: .gone, heading: "This checkout has expired", message: "Go back to the business's site and start again.")
            case .malformed, .unknownKey, .badSignature:
                throw PageError(
                    status: .forbidden, heading: "This checkout link is not valid", message: "Go back to the business's site and start again.")
            }
        }
        guard hasSession || !form.requiresSession else {
            throw PageError(
                status: .forbidden, heading: "Pay from the business's own checkout",
                message: "This form takes payments only when the business's site opens it for you. Go back to their site and start the payment there."
            )
        }
        return (form, sessionAmount, sessionRealm)
    }

    /// The parent page's origin, when it is one the form allows (messages go only there).
    private static func parentOrigin(_ raw: String?, form: PaymentForm) -> String {
        guard let raw, let origin = FormRules.origin(raw), form.allowedOrigins.contains(origin) else { return "" }
        return origin
    }

    func show(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (form, sessionAmount, _) = try await openForm(request, context: context)
        return try await render(form, request: request, sessionAmount: sessionAmount, state: FormState(), problem: nil, context: context, status: .ok)
    }

    func pay(_ request: Request, context: AppRequestContext) async throws -> Response {
        let (form, sessionAmount, sessionRealm) = try await openForm(request, context: context)
        var request = request
        let body = try await request.collectBody(upTo: 64 * 1024)
        let posted = FormData(urlEncoded: String(buffer: body))
        var state = FormState(values: [
            "exp_month": posted["exp_month"] ?? "", "exp_year": posted["exp_year"] ?? "", "cardholder_name": posted["cardholder_name"] ?? "",
            "email": posted["email"] ?? "", "amount": posted["amount"] ?? "", "origin": posted["origin"] ?? "",
        ])
        for field in form.fields { state.values[field.key] = posted[field.key] ?? "" }
        guard let token = posted["attempt_token"], signer.verifyAttemptToken(token, for: form.id) else {
            return try await render(
                form, request: request, sessionAmount: sessionAmount, state: state,
                problem: "This page had expired. Check the details and pay again.", context: context, status: .badRequest)
        }
        let origin = Self.parentOrigin(posted["origin"], form: form)

        // The amount: fixed, fixed by a signed session, or the payer's within the range.
        var amount: Money? = nil
        if let fixed = form.amount ?? sessionAmount {
            amount = Money(minorUnits: fixed, currency: form.currency)
        } else {
            do {
                let typed = try Money.parse(posted["amount"] ?? "", currency: form.currency, maximum: form.maximum ?? payments.maximumAmount)
                if typed.minorUnits < (form.minimum ?? 1) {
                    state.errors["amount"] = "The smallest amount is \(Money(minorUnits: form.minimum ?? 1, currency: form.currency).formatted)."
                } else {
                    amount = typed
                }
            } catch {
                state.errors["amount"] = error.description
            }
        }
        var answers: [FieldAnswer] = []
        for field in form.fields {
            switch FormRules.answer(posted[field.key] ?? "", for: field) {
            case .success(let value): if !value.isEmpty { answers.append(FieldAnswer(label: field.label, value: value)) }
            case .failure(let problem): state.errors[field.key] = problem.message
            }
        }
        let email = posted["email"] ?? ""
        if let problem = AccountService.emailProblem(email) { state.errors["email"] = problem }
        let checked = CheckoutController.checkCard(posted, now: Date())
        var card: CardDetails? = nil
        switch checked {
        case .success(let details): card = details
        case .failure(let list):
            for problem in list.problems { state.errors[problem.field] = problem.message }
            if list.keepsNumber { state.values["card_number"] = posted["card_number"] ?? "" }
        }
        guard !state.hasErrors, let card, let amount else {
            // A double click or a retried POST: the first outcome, whatever this one says.
            if let earlier = try await payments.checkout.earlierOutcome(of: (form.accountID, form.id.rawValue, token)) {
                return try await answer(
                    earlier, form: form, request: request, sessionAmount: sessionAmount, state: state, origin: origin, context: context)
            }
            return try await render(
                form, request: request, sessionAmount: sessionAmount, state: state, problem: nil, context: context, status: .unprocessableContent)
        }
        let signals = try await limits.admit(
            client: context.remoteAddress, subject: "form:\(form.id)", card: card, accountID: form.accountID, email: email)
        let outcome = try await payments.checkout.pay(
            CheckoutRequest(
                subject: .form(form, amount: amount, answers: answers), attemptToken: token, card: card, email: email, realm: sessionRealm,
                riskSignals: signals)
        )
        if case .paid(let receipt) = outcome, receipt.status == .failed { try await limits.declined(card: card, accountID: form.accountID) }
        return try await answer(outcome, form: form, request: request, sessionAmount: sessionAmount, state: state, origin: origin, context: context)
    }

    /// The page or redirect for what the checkout came to.
    private func answer(
        _ outcome: CheckoutOutcome, form: PaymentForm, request: Request, sessionAmount: Int64?, state: FormState, origin: String,
        context: AppRequestContext
    ) async throws -> Response {
        var state = state
        switch outcome {
        case .paid(let receipt), .replayed(let receipt):
            context.logger.info(
                "form payment",
                metadata: [
                    "payment_id": .string(receipt.paymentID.rawValue), "payment_form_id": .string(form.id.rawValue),
                    "status": .string(receipt.status.rawValue),
                ]
            )
            if receipt.status == .failed, let payment = try await payments.payment(id: receipt.paymentID) {
                // Declined: the form again, as on the hosted checkout (the reason on top, all typed
                // but the card number and CVC kept); the page still tells its embedder (kassa:failure).
                let reason = payment.failureCode?.message ?? "The payment did not go through."
                return try await render(
                    form, request: request, sessionAmount: sessionAmount, state: state,
                    problem: "Payment declined. \(reason) No money was taken.", declined: payment.id, context: context, status: .paymentRequired)
            }
            return resultRedirect(form: form, paymentID: receipt.paymentID, origin: origin)
        case .cardNotAccepted(let network, let issuer):
            state.errors["card_number"] =
                "This business does not take \(issuer == network.displayName ? "\(network.displayName) cards" : "cards from \(issuer)") in \(form.currency.code)."
            return try await render(
                form, request: request, sessionAmount: sessionAmount, state: state, problem: nil, context: context, status: .unprocessableContent)
        case .issuerUnavailable:
            return try await render(
                form, request: request, sessionAmount: sessionAmount, state: state, problem: DeclineCode.issuerUnavailable.message, context: context,
                status: .serviceUnavailable
            )
        case .formClosed, .linkClosed:
            throw PageError(status: .gone, heading: "This payment form is closed", message: "It no longer takes payments.")
        case .notFound:
            throw PageError(
                status: .notFound, heading: "This payment form does not exist",
                message: "Check the address, or ask the business for its payment page.")
        case .amountOutOfRange:
            state.errors["amount"] = "Enter an amount this form takes."
            return try await render(
                form, request: request, sessionAmount: sessionAmount, state: state, problem: nil, context: context, status: .unprocessableContent)
        case .attemptInProgress:
            return try await render(
                form, request: request, sessionAmount: sessionAmount, state: state,
                problem: "Your payment is being processed. Wait a moment before trying again.",
                context: context, status: .conflict
            )
        }
    }

    private func resultRedirect(form: PaymentForm, paymentID: PaymentID, origin: String) -> Response {
        let sig = signer.receiptSignature(paymentID: paymentID)
        let originQuery = origin.isEmpty ? "" : "&origin=" + (origin.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
        return Response(status: .seeOther, headers: [.location: "/embed/forms/\(form.id)/result?payment=\(paymentID)&sig=\(sig)\(originQuery)"])
    }

    func result(_ request: Request, context: AppRequestContext) async throws -> Response {
        let id = try context.parameters.require("id", as: FormID.self)
        let query = request.uri.queryParameters
        let paymentID = PaymentID(query["payment"].map(String.init) ?? "")
        guard signer.verifyReceipt(paymentID: paymentID, sig: query["sig"].map(String.init)) else {
            throw PageError(status: .forbidden, heading: "This result link is not valid", message: "Go back and check your payment's receipt.")
        }
        guard let payment = try await payments.payment(id: paymentID), payment.paymentFormID == id,
            let form = try await payments.forms.find(id: id, fresh: false)
        else {
            throw HTTPError(.notFound)
        }
        let origin = Self.parentOrigin(query["origin"].map(String.init), form: form)
        // The business is who was paid, as on every other receipt (the form's title is what for).
        let merchant = try await payments.links.merchantName(accountID: form.accountID)
        let (heading, detail, statusClass) = CheckoutController.words(for: payment, merchant: merchant)
        let success = payment.status.isCaptured
        var response = renderer.page(
            "embed/result",
            title: heading,
            ResultView(
                success: success, status: payment.status.label, statusClass: statusClass, heading: heading, detail: detail,
                amount: payment.amount.formatted,
                card: payment.card.map { "\($0.brand.displayName) •••• \($0.last4)" }, paymentID: payment.id.rawValue,
                retryURL: payment.status == .failed ? "/embed/forms/\(form.id)" + (origin.isEmpty ? "" : "?origin=\(origin)") : nil,
                parentOrigin: origin, redirect: success ? (form.redirectURL ?? "") : "",
                outcome: success ? "success" : (payment.status == .processing ? "processing" : "failure"),
                receiptURL: signer.receiptPath(paymentID: payment.id)
            ),
            context: context,
            bodyClass: "embed",
            payer: true
        )
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy(origins: form.allowedOrigins)
        if payment.status == .processing { response.headers[.init("Refresh")!] = "3" }
        return response
    }

    private func render(
        _ form: PaymentForm, request: Request, sessionAmount: Int64?, state: FormState, problem: String?, declined: PaymentID? = nil,
        context: AppRequestContext, status: HTTPResponse.Status
    ) async throws -> Response {
        let origin = Self.parentOrigin(state.values["origin"] ?? request.uri.queryParameters["origin"].map(String.init), form: form)
        let fixed = (form.amount ?? sessionAmount).map { Money(minorUnits: $0, currency: form.currency).formatted }
        let merchant = try await payments.links.merchantName(accountID: form.accountID)
        let fields = form.fields.map { field in
            FieldView(
                key: field.key, label: field.label, inputType: field.kind == .email ? "email" : (field.kind == .number ? "text" : "text"),
                isSelect: field.kind == .select, required: field.required,
                options: field.options.map { Choice(value: $0, selected: state.values[field.key] == $0) }, value: state.values[field.key] ?? "",
                error: state.errors[field.key]
            )
        }
        var response = renderer.page(
            "embed/form",
            title: form.title,
            FormView(
                id: form.id.rawValue, title: form.title, description: form.description, fixedAmount: fixed, currency: form.currency.code,
                range: fixed == nil
                    ? "\(Money(minorUnits: form.minimum ?? 1, currency: form.currency).formatted) to \(Money(minorUnits: form.maximum ?? 1, currency: form.currency).formatted)"
                    : nil,
                fields: fields, action: request.uri.description, token: signer.attemptToken(for: form.id), buttonLabel: form.buttonLabel,
                brandColor: form.brandColor, parentOrigin: origin, form: state.values, errors: state.errors,
                summary: state.summary(order: ["amount"] + form.fields.map(\.key) + CheckoutController.cardFields), problem: problem,
                emailHint: CheckoutController.emailHint(merchant: merchant, receiptsByEmail: receiptsByEmail),
                declinedPaymentID: declined?.rawValue, declinedReceiptURL: declined.map { signer.receiptPath(paymentID: $0) }
            ),
            context: context,
            status: status,
            bodyClass: "embed",
            payer: true
        )
        response.headers[.contentSecurityPolicy] = Self.contentSecurityPolicy(origins: form.allowedOrigins)
        response.headers[.init("Referrer-Policy")!] = "no-referrer"
        return response
    }
}
