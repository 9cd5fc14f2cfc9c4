import Foundation
import Logging

/// What a payer submitted on a link's checkout page or on a business's payment form, once the
/// presenter has checked the card fields, the email and the form's own fields.
public struct CheckoutRequest: Sendable {
    public enum Subject: Sendable {
        case link(PaymentLink)
        /// A form, with the amount already checked against it (fixed, fixed by a signed session, or
        /// the payer's within its range) and the payer's answers to its fields.
        case form(PaymentForm, amount: Money, answers: [FieldAnswer])
    }

    public var subject: Subject
    /// Rendered into the page; a second submit of the same page finds the first payment.
    public var attemptToken: String
    public var card: CardDetails
    public var email: String?
    /// A signed checkout session's realm, which wins over its form's.
    public var realm: String?
    /// The payer's recent attempts at this merchant, for the risk rules (counted by the presenter).
    public var riskSignals: RiskSignals?

    public init(
        subject: Subject, attemptToken: String, card: CardDetails, email: String?, realm: String? = nil, riskSignals: RiskSignals? = nil
    ) {
        self.subject = subject
        self.attemptToken = attemptToken
        self.card = card
        self.email = email
        self.realm = realm
        self.riskSignals = riskSignals
    }
}

/// The payment a checkout made or found, as the payer's receipt needs it.
public struct CheckoutReceipt: Sendable, Equatable {
    public let paymentID: PaymentID
    /// `succeeded` or `failed`; `processing` while the issuer's answer is not in (the recovery
    /// worker finishes it, and the receipt page follows).
    public let status: PaymentStatus
    public let failureCode: DeclineCode?

    public init(paymentID: PaymentID, status: PaymentStatus, failureCode: DeclineCode?) {
        self.paymentID = paymentID
        self.status = status
        self.failureCode = failureCode
    }
}

/// Everything a checkout can come to. Both checkout presenters (`/pay` and `/embed/forms`) switch
/// over it without `default:`.
public enum CheckoutOutcome: Sendable, Equatable {
    /// This submit made a payment.
    case paid(CheckoutReceipt)
    /// An earlier submit of the same attempt made this payment: the same answer again.
    case replayed(CheckoutReceipt)
    /// The link takes no payment: revoked, expired or used up (`.completed`); `.active` when its
    /// last use is held by a payment still in flight, which may yet fail and give it back.
    case linkClosed(LinkStatus)
    /// The form takes no payment: archived, expired or used up.
    case formClosed
    /// No such link or form.
    case notFound
    /// The merchant does not take this card in this currency.
    case cardNotAccepted(network: CardNetwork, issuer: String)
    /// The card's issuer is not answering (its circuit is open); nothing was written.
    case issuerUnavailable(issuer: String)
    /// A form amount outside what Kassa takes at all.
    case amountOutOfRange
    /// Another request is making this attempt's payment right now and has not written it yet.
    case attemptInProgress
}

/// The checkout use case: one way through the code for every payment a payer makes.
///
/// ```
/// subject + card → issuer and method (cached, read afresh before refusing)
///   → start batch   commit 1: payment `processing` + its events + the link's or form's use
///   → issuer        the decision (the simulator batches and commits its own)
///   → finish batch  commit 3: `succeeded` or `failed` + its event
/// ```
/// Each batch is shared by every checkout waiting for it (group commit) and answers each one only
/// after its COMMIT returned. Replays of an attempt and refusals come back as rows of the start
/// batch, so a checkout touches PostgreSQL only through the three batches.
public struct Checkout: Sendable {
    let payments: Payments

    /// Pays `request`; throws only when PostgreSQL itself cannot be reached or refuses.
    public func pay(_ request: CheckoutRequest) async throws -> CheckoutOutcome {
        let start = ContinuousClock.now
        do {
            let outcome = try await Trace.span("checkout") { span in
                let outcome = try await payOnce(request)
                span.set("kassa.checkout.outcome", outcome.label)
                return outcome
            }
            payments.observer.checkout(outcome.label, ContinuousClock.now - start)
            if case .paid(let receipt) = outcome { payments.observer.status(receipt.status) }
            return outcome
        } catch {
            payments.observer.checkout("error", ContinuousClock.now - start)
            throw error
        }
    }

    private func payOnce(_ request: CheckoutRequest) async throws -> CheckoutOutcome {
        var fresh = false
        for _ in 0..<3 {
            switch try await attempt(request, fresh: fresh) {
            case .done(let outcome): return outcome
            case .stale:
                // The link, form or methods changed since they were cached: forget and read them again.
                forget(request.subject)
                fresh = true
            }
        }
        throw PaymentError.attemptInProgress
    }

    /// The outcome of an earlier submit of this attempt, if it made a payment (for a presenter whose
    /// new submit has errors of its own: a double click answers as the first click did).
    public func earlierOutcome(of request: (accountID: AccountID, subjectID: String, attemptToken: String)) async throws -> CheckoutOutcome? {
        guard let first = try await payments.payment(accountID: request.accountID, attemptToken: request.attemptToken),
            first.paymentLinkID?.rawValue == request.subjectID || first.paymentFormID?.rawValue == request.subjectID
        else { return nil }
        return .replayed(try await settled(first.id))
    }

    private enum Attempt {
        case done(CheckoutOutcome)
        case stale
    }

    private func attempt(_ request: CheckoutRequest, fresh: Bool) async throws -> Attempt {
        let accountID: AccountID
        let currency: Currency
        let allowed: [MethodID]
        switch request.subject {
        case .link(let link):
            (accountID, currency, allowed) = (link.accountID, link.amount.currency, link.paymentMethodIDs)
        case .form(let form, let amount, _):
            guard amount.currency == form.currency, amount.minorUnits > 0, amount.minorUnits <= payments.settings.maximumAmount else {
                return .done(.amountOutOfRange)
            }
            (accountID, currency, allowed) = (form.accountID, form.currency, [])
        }

        // Route the card; a refusal is only ever made on fresh data.
        let routed = try await Trace.span("checkout.route") { _ in
            let routed = try await route(request.card, accountID: accountID, currency: currency, allowed: allowed, fresh: fresh)
            guard case .refused = routed, !fresh else { return routed }
            return try await route(request.card, accountID: accountID, currency: currency, allowed: allowed, fresh: true)
        }
        let issuer: Issuer
        let method: PaymentMethod
        switch routed {
        case .refused(let network, let name): return .done(.cardNotAccepted(network: network, issuer: name))
        case .routed(let i, let m): (issuer, method) = (i, m)
        }
        guard payments.issuer.breaker.allows(issuer.id) else { return .done(.issuerUnavailable(issuer: issuer.name)) }

        // The risk rules, before anything is asked of the issuer: the score goes with the payment.
        let charged: Money
        switch request.subject {
        case .link(let link): charged = link.amount
        case .form(_, let amount, _): charged = amount
        }
        let fingerprint = request.card.fingerprint(key: payments.fingerprintKey)
        let assessment = Risk.assess(
            rules: try await payments.risk.cachedRules(accountID: accountID), cardNumber: request.card.number, fingerprint: fingerprint,
            email: request.email, amount: charged, cardCountry: issuer.country, signals: request.riskSignals)

        // Commit 1: the payment, born `processing`, with its events and the use it takes.
        let item = payments.startItem(
            request, accountID: accountID, currency: currency, issuer: issuer, method: method, fingerprint: fingerprint, risk: assessment)
        let row = try await Trace.span("checkout.start") { _ in try await payments.starter.submit(item) }
        switch row.outcome {
        case .started:
            switch request.subject {
            case .link(let link): payments.cache.tookUse(ofLink: link.id)
            case .form(let form, _, _): payments.cache.tookUse(ofForm: form.id)
            }
        case .replay:
            guard let id = row.paymentID else { throw PaymentError.notFound }
            return .done(.replayed(try await settled(id)))
        case .stale:
            return .stale
        case .notFound:
            return .done(.notFound)
        case .revoked:
            return .done(.linkClosed(.revoked))
        case .expired:
            return .done(.linkClosed(.expired))
        case .usedUp:
            guard case .link(let link) = request.subject else { return .done(.formClosed) }
            // Used up only by a payment still in flight: it may yet fail and give its use back, so
            // the payer hears "being paid", not "paid".
            return .done(.linkClosed(try await payments.hasPaymentInFlight(link) ? .active : .completed))
        case .closed:
            return .done(.formClosed)
        case .conflict:
            // Someone else is writing this attempt's payment: wait for it.
            for _ in 0..<50 {
                if let first = try await payments.payment(accountID: accountID, attemptToken: request.attemptToken) {
                    return .done(.replayed(try await settled(first.id)))
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            return .done(.attemptInProgress)
        }

        // Blocked by the rules: failed with fraud_suspected, and the issuer never hears of it.
        if assessment.blocked {
            let receipt = try await payments.refuse(
                accountID: accountID, paymentID: item.paymentID, amount: Money(minorUnits: item.amount, currency: currency))
            forget(request.subject)
            return .done(.paid(receipt))
        }

        // The issuer, then commit 3 with its answer.
        let authorization = AuthorizationRequest(
            attemptID: item.attemptID, issuerID: issuer.id, amount: Money(minorUnits: item.amount, currency: currency), card: request.card)
        let receipt = await payments.authorize(authorization, accountID: accountID, paymentID: item.paymentID)
        if receipt.status == .failed { forget(request.subject) }  // the use it took is given back
        return .done(.paid(receipt))
    }

    private enum Route {
        case routed(Issuer, PaymentMethod)
        case refused(CardNetwork, String)
    }

    /// The issuer for the card and the merchant's method that accepts it in `currency`.
    private func route(_ card: CardDetails, accountID: AccountID, currency: Currency, allowed: [MethodID], fresh: Bool) async throws -> Route {
        let catalog = try await payments.issuers.catalog()
        guard let issuer = catalog.route(card) else { return .refused(card.network, card.network.displayName) }
        let accepted = try await payments.methods.cachedList(accountID: accountID, fresh: fresh)
        guard issuer.supports(currency),
            let method = accepted.first(where: { $0.issuerID == issuer.id && $0.accepts(currency) && (allowed.isEmpty || allowed.contains($0.id)) })
        else {
            // A network's test issuer stands for "any other card of that network": name the network.
            return .refused(card.network, issuer.isTestIssuer ? card.network.displayName : issuer.name)
        }
        return .routed(issuer, method)
    }

    private func forget(_ subject: CheckoutRequest.Subject) {
        switch subject {
        case .link(let link):
            payments.cache.forget(link: link.id)
            payments.cache.forget(methodsOf: link.accountID)
        case .form(let form, _, _):
            payments.cache.forget(form: form.id)
            payments.cache.forget(methodsOf: form.accountID)
        }
    }

    /// The payment's receipt; while it is `processing` (its first submit still waiting for the
    /// issuer), waits a little for the outcome, so a double click shows what the first click got.
    private func settled(_ paymentID: PaymentID) async throws -> CheckoutReceipt {
        var payment = try await payments.payment(id: paymentID)
        for _ in 0..<30 where payment?.status == .processing {
            try await Task.sleep(for: .milliseconds(100))
            payment = try await payments.payment(id: paymentID)
        }
        guard let payment else { throw PaymentError.notFound }
        return CheckoutReceipt(paymentID: payment.id, status: payment.status, failureCode: payment.failureCode)
    }
}
