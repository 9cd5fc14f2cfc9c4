import Crypto
import Foundation
import Logging
import PostgresNIO

/// Early turn-away of concurrent duplicates (a Redis `SET NX PX` in App). Only an optimisation:
/// the database constraints decide; when the lock store is down, payments go on without it.
public protocol PaymentLocks: Sendable {
    /// A token when the lock was taken, nil when someone else holds it.
    func acquire(_ key: String, ttlMilliseconds: Int) async throws -> String?
    /// Releases the lock only if `token` still holds it.
    func release(_ key: String, token: String) async throws
}

/// The payment core's operations. Every state change is one PostgreSQL transaction that writes
/// the payment row, its event, its ledger postings and its outbox rows, or nothing at all.
public struct Payments: Sendable {
    public struct Settings: Sendable {
        public var maximumAmount: Int64
        /// How long a payment may sit in `processing` before the recovery worker asks the issuer.
        public var recoverAfter: Duration
        public var lockTTLMilliseconds: Int

        public init(maximumAmount: Int64 = Money.defaultMaximum, recoverAfter: Duration = .seconds(60), lockTTLMilliseconds: Int = 30_000) {
            self.maximumAmount = maximumAmount
            self.recoverAfter = recoverAfter
            self.lockTTLMilliseconds = lockTTLMilliseconds
        }
    }

    /// Points inside a transition where a test may make it fail, to show nothing half-written remains.
    public enum Step: Sendable, Equatable {
        case paymentWritten, eventWritten, ledgerWritten
    }

    /// What the payer submitted on the checkout of a link.
    public struct LinkCheckout: Sendable {
        public var linkID: String
        /// Rendered into the checkout page; a second submit of the same page finds the first payment.
        public var attemptToken: String
        public var card: CardDetails
        public var email: String?
        /// The link as the caller has just read it, having looked the attempt token up itself
        /// (the checkout page does both before it checks the card); nil to let `pay` do both.
        public var link: PaymentLink?

        public init(linkID: String, attemptToken: String, card: CardDetails, email: String?, link: PaymentLink? = nil) {
            self.linkID = linkID
            self.attemptToken = attemptToken
            self.card = card
            self.email = email
            self.link = link
        }
    }

    let database: PostgresClient
    public let issuers: IssuerCatalogCache
    let issuer: GuardedIssuer
    let locks: (any PaymentLocks)?
    let fingerprintKey: SymmetricKey
    let settings: Settings
    let logger: Logger
    let fault: @Sendable (Step) throws -> Void

    public init(
        database: PostgresClient,
        issuers: IssuerCatalogCache,
        issuer: GuardedIssuer,
        locks: (any PaymentLocks)?,
        fingerprintKey: SymmetricKey,
        settings: Settings = .init(),
        logger: Logger,
        fault: @escaping @Sendable (Step) throws -> Void = { _ in }
    ) {
        self.database = database
        self.issuers = issuers
        self.issuer = issuer
        self.locks = locks
        self.fingerprintKey = fingerprintKey
        self.settings = settings
        self.logger = logger
        self.fault = fault
    }

    public var methods: PaymentMethods { PaymentMethods(database: database, issuers: issuers, logger: logger) }
    public var links: PaymentLinks { PaymentLinks(database: database, methods: methods, settings: settings, logger: logger) }

    public var history: PaymentHistory { PaymentHistory(database: database, logger: logger) }
    public var forms: PaymentForms { PaymentForms(database: database, methods: methods, logger: logger) }
    public var maximumAmount: Int64 { settings.maximumAmount }

    /// Every issuer Kassa routes to.
    public func catalog() async throws -> IssuerCatalog { try await issuers.catalog() }

    // MARK: - Reading

    public func payment(id: String) async throws -> Payment? {
        try await database.withConnection { try await fetch($0, "SELECT \(unescaped: Payment.columns) FROM payments WHERE id = \(id)") }
    }

    public func payment(accountID: String, id: String) async throws -> Payment? {
        try await database.withConnection {
            try await fetch($0, "SELECT \(unescaped: Payment.columns) FROM payments WHERE account_id = \(accountID) AND id = \(id)")
        }
    }

    public func payment(accountID: String, attemptToken: String) async throws -> Payment? {
        try await firstRow(database.execute(PaymentByAttemptToken(accountID: accountID, key: attemptToken), logger: logger))
    }

    /// The payment's transaction log, oldest first.
    public func events(accountID: String, paymentID: String) async throws -> [PaymentEvent] {
        let rows = try await database.query(
            """
            SELECT id, payment_id, type, data::text, created_at FROM payment_events
            WHERE account_id = \(accountID) AND payment_id = \(paymentID) ORDER BY seq
            """,
            logger: logger
        )
        var events: [PaymentEvent] = []
        for try await (id, payment, type, data, created) in rows.decode((String, String, String, String, Date).self) {
            events.append(PaymentEvent(id: id, paymentID: payment, type: type, data: data, createdAt: created))
        }
        return events
    }

    /// The account's transaction log, newest first, after the event `after`.
    public func accountEvents(accountID: String, type: String?, after: String?, limit: Int) async throws -> (events: [AccountEvent], hasMore: Bool) {
        let rows = try await database.query(
            """
            SELECT id, type, payment_id, payment_link_id, data::text, created_at FROM payment_events
            WHERE account_id = \(accountID) AND (\(type)::text IS NULL OR type = \(type))
              AND (\(after)::text IS NULL OR seq < (SELECT seq FROM payment_events WHERE account_id = \(accountID) AND id = \(after)))
            ORDER BY seq DESC LIMIT \(limit + 1)
            """,
            logger: logger
        )
        var events: [AccountEvent] = []
        for try await (id, type, payment, link, data, created) in rows.decode((String, String, String?, String?, String, Date).self) {
            events.append(AccountEvent(id: id, type: type, paymentID: payment, paymentLinkID: link, data: data, createdAt: created))
        }
        let more = events.count > limit
        if more { events.removeLast() }
        return (events, more)
    }

    public func refunds(accountID: String, paymentID: String) async throws -> [Refund] {
        let rows = try await database.query(
            """
            SELECT id, payment_id, amount, currency, reason, status, created_at FROM refunds
            WHERE account_id = \(accountID) AND payment_id = \(paymentID) ORDER BY created_at, id
            """,
            logger: logger
        )
        var refunds: [Refund] = []
        for try await (id, payment, amount, code, reason, status, created) in rows.decode((String, String, Int64, String, String?, String, Date).self) {
            guard let currency = Currency(code: code) else { continue }
            refunds.append(Refund(id: id, paymentID: payment, amount: Money(minorUnits: amount, currency: currency), reason: reason, status: status, createdAt: created))
        }
        return refunds
    }

    /// The merchant's balance per currency: captured minus refunded, from the ledger.
    public func balances(accountID: String) async throws -> [Money] {
        let rows = try await database.query(
            """
            SELECT currency, sum(amount)::bigint FROM ledger_entries
            WHERE account_id = \(accountID) AND ledger_account = 'merchant_balance'
            GROUP BY currency ORDER BY currency
            """,
            logger: logger
        )
        var balances: [Money] = []
        for try await (code, total) in rows.decode((String, Int64).self) {
            if let currency = Currency(code: code) { balances.append(Money(minorUnits: total, currency: currency)) }
        }
        return balances
    }

    // MARK: - Paying a link

    /// Pays a link with a card: commits `processing` with a fresh attempt id, asks the issuer,
    /// commits the outcome. A second submit with the same attempt token returns the first payment.
    public func pay(_ checkout: LinkCheckout) async throws -> Payment {
        let link: PaymentLink
        if let known = checkout.link, known.id == checkout.linkID {
            link = known
        } else {
            guard let found = try await links.find(id: checkout.linkID) else { throw PaymentError.linkNotFound }
            if let first = try await payment(accountID: found.accountID, attemptToken: checkout.attemptToken) { return first }
            link = found
        }
        let status = link.status(at: Date())
        guard status == .active else { throw PaymentError.linkNotActive(status) }
        let (routed, method) = try await route(checkout.card, accountID: link.accountID, currency: link.amount.currency, allowed: link.paymentMethodIDs)
        guard issuer.breaker.allows(routed.id) else { throw PaymentError.issuerUnavailable(issuer: routed.name) }

        var keys = ["{\(link.accountID)}:attempt:\(checkout.attemptToken)"]
        if link.maxUses == 1 { keys.append("{\(link.accountID)}:link:\(link.id)") }
        let held = try await lock(keys)
        guard let held else {
            // Someone is paying this very attempt or link right now.
            if let first = try await payment(accountID: link.accountID, attemptToken: checkout.attemptToken) { return first }
            throw PaymentError.attemptInProgress
        }
        defer { unlock(held) }

        let started: Payment
        do {
            started = try await database.transaction(logger: logger) { connection in
                let processing = try await insertProcessing(
                    connection, accountID: link.accountID, amount: link.amount, description: link.description,
                    linkID: link.id, singleUse: link.maxUses == 1, attemptToken: checkout.attemptToken, email: checkout.email,
                    card: checkout.card, issuer: routed, method: method
                )
                // The use is reserved last, so the link's row stays locked only until COMMIT: payers
                // of one shared link queue on it for one commit each, not for the whole transaction.
                let reserved = try await firstRow(connection.execute(ReserveLinkUse(accountID: link.accountID, key: link.id), logger: logger))
                guard reserved != nil else { throw PaymentError.linkNotActive(.completed) }
                return processing
            }
        } catch let error where error.isUniqueViolation("payments_attempt_token_key") {
            if let first = try await payment(accountID: link.accountID, attemptToken: checkout.attemptToken) { return first }
            throw PaymentError.attemptInProgress
        } catch PaymentError.linkNotActive {
            throw try await whyLinkRefused(link)
        } catch let error where error.isUniqueViolation("payments_single_use_link_key") {
            // A live payment holds the single-use link: in progress, or already paid.
            throw try await whyLinkRefused(link)
        }
        return await authorize(started, card: checkout.card)
    }

    /// Why the database would not reserve a use: someone is paying it, or it is no longer open.
    private func whyLinkRefused(_ link: PaymentLink) async throws -> PaymentError {
        guard let current = try await links.find(id: link.id) else { return .linkNotFound }
        let status = current.status(at: Date())
        if status == .completed, try await hasPaymentInFlight(current) { return .linkInProgress }
        return .linkNotActive(status == .active ? .completed : status)
    }

    /// True while a payment of the link is `processing`: its use is reserved, but the payment may
    /// still fail (or be voided by recovery) and give the use back, so the link is not "paid" yet.
    public func hasPaymentInFlight(_ link: PaymentLink) async throws -> Bool {
        let processing = try await database.query(
            """
            SELECT count(*) FROM payments
            WHERE account_id = \(link.accountID) AND payment_link_id = \(link.id) AND status = 'processing'
            """,
            logger: logger
        )
        var inFlight = 0
        for try await count in processing.decode(Int.self) { inFlight = count }
        return inFlight > 0
    }

    // MARK: - Paying a business form

    /// What the payer submitted on an embedded (or plainly linked) payment form.
    public struct FormCheckout: Sendable {
        public var formID: String
        public var attemptToken: String
        public var amount: Money
        public var card: CardDetails
        public var email: String?
        public var answers: [FieldAnswer]

        public init(formID: String, attemptToken: String, amount: Money, card: CardDetails, email: String?, answers: [FieldAnswer]) {
            self.formID = formID
            self.attemptToken = attemptToken
            self.amount = amount
            self.card = card
            self.email = email
            self.answers = answers
        }
    }

    /// Pays a form the same way as a link: the attempt token finds a repeated submit's first
    /// payment, a use is reserved in the same transaction as `processing`, the issuer is asked after.
    /// The amount must already be checked against the form (fixed, or within its range).
    public func pay(_ checkout: FormCheckout) async throws -> Payment {
        guard let form = try await forms.find(id: checkout.formID) else { throw PaymentError.notFound }
        if let first = try await payment(accountID: form.accountID, attemptToken: checkout.attemptToken) { return first }
        guard form.isOpen(at: Date()) else { throw PaymentError.linkNotActive(.expired) }
        guard checkout.amount.currency == form.currency, checkout.amount.minorUnits > 0, checkout.amount.minorUnits <= settings.maximumAmount else {
            throw PaymentError.amountOutOfRange
        }
        let (routed, method) = try await route(checkout.card, accountID: form.accountID, currency: form.currency, allowed: [])
        guard issuer.breaker.allows(routed.id) else { throw PaymentError.issuerUnavailable(issuer: routed.name) }
        guard let held = try await lock(["{\(form.accountID)}:attempt:\(checkout.attemptToken)"]) else {
            if let first = try await payment(accountID: form.accountID, attemptToken: checkout.attemptToken) { return first }
            throw PaymentError.attemptInProgress
        }
        defer { unlock(held) }
        let started: Payment
        do {
            started = try await database.transaction(logger: logger) { connection in
                let reserved = try await connection.query(
                    """
                    UPDATE payment_forms SET uses = uses + 1
                    WHERE account_id = \(form.accountID) AND id = \(form.id) AND archived_at IS NULL
                      AND (expires_at IS NULL OR expires_at > now()) AND (max_uses IS NULL OR uses < max_uses)
                    RETURNING id
                    """,
                    logger: logger
                )
                var open = false
                for try await _ in reserved.decode(String.self) { open = true }
                guard open else { throw PaymentError.linkNotActive(.completed) }
                return try await insertProcessing(
                    connection, accountID: form.accountID, amount: checkout.amount, description: form.title, linkID: nil, singleUse: false,
                    attemptToken: checkout.attemptToken, email: checkout.email, formID: form.id, answers: checkout.answers,
                    card: checkout.card, issuer: routed, method: method
                )
            }
        } catch let error where error.isUniqueViolation("payments_attempt_token_key") {
            if let first = try await payment(accountID: form.accountID, attemptToken: checkout.attemptToken) { return first }
            throw PaymentError.attemptInProgress
        }
        return await authorize(started, card: checkout.card)
    }

    // MARK: - Payments without a link (the API's create + confirm)

    /// A payment waiting for a card (`requires_payment`).
    public func create(accountID: String, amount: Money, description: String, email: String? = nil) async throws -> Payment {
        guard amount.minorUnits > 0, amount.minorUnits <= settings.maximumAmount else { throw PaymentError.amountOutOfRange }
        guard try await methods.acceptedCurrencies(accountID: accountID).contains(amount.currency) else {
            throw PaymentError.currencyNotAccepted(amount.currency)
        }
        return try await database.transaction(logger: logger) { connection in
            try await insert(connection, accountID: accountID, amount: amount, description: description, email: email)
        }
    }

    /// Pays a `requires_payment` payment with a card.
    public func confirm(accountID: String, paymentID: String, card: CardDetails) async throws -> Payment {
        guard let current = try await payment(accountID: accountID, id: paymentID) else { throw PaymentError.notFound }
        guard current.status.canMove(to: .processing) else { throw PaymentError.invalidTransition(from: current.status, to: .processing) }
        let (routed, method) = try await route(card, accountID: accountID, currency: current.amount.currency, allowed: [])
        guard issuer.breaker.allows(routed.id) else { throw PaymentError.issuerUnavailable(issuer: routed.name) }
        let keys = ["{\(accountID)}:payment:\(paymentID)"]
        guard let held = try await lock(keys) else { throw PaymentError.attemptInProgress }
        defer { unlock(held) }
        let started = try await change(accountID: accountID, paymentID: paymentID, to: .processing) { connection, payment in
            try await startProcessing(connection, payment, card: card, issuer: routed, method: method)
        }
        return await authorize(started, card: card)
    }

    /// `requires_payment` → `canceled`.
    public func cancel(accountID: String, paymentID: String) async throws -> Payment {
        try await change(accountID: accountID, paymentID: paymentID, to: .canceled) { connection, payment in
            try await simpleTransition(connection, payment, to: .canceled, event: "payment.canceled")
        }
    }

    /// `requires_payment` → `expired`.
    public func expire(accountID: String, paymentID: String) async throws -> Payment {
        try await change(accountID: accountID, paymentID: paymentID, to: .expired) { connection, payment in
            try await simpleTransition(connection, payment, to: .expired, event: "payment.expired")
        }
    }

    // MARK: - The issuer's answer

    /// Asks the issuer and commits its answer. When the issuer cannot be reached the payment
    /// stays `processing` and the recovery worker finishes it; nothing is lost either way.
    private func authorize(_ started: Payment, card: CardDetails) async -> Payment {
        guard let attemptID = started.attemptID, let issuerID = started.issuerID else { return started }
        let request = AuthorizationRequest(attemptID: attemptID, issuerID: issuerID, amount: started.amount, card: card)
        let outcome: AuthorizationOutcome
        do {
            outcome = try await issuer.authorize(request)
        } catch {
            logger.warning("issuer call failed", metadata: ["payment_id": "\(started.id)", "issuer": "\(issuerID)", "error": "\(error)"])
            do {
                // It may have decided before we stopped listening; asking settles it either way.
                outcome = try await issuer.resolve(attemptID: attemptID, issuerID: issuerID)
            } catch {
                return started
            }
        }
        do {
            return try await finish(accountID: started.accountID, paymentID: started.id, outcome: outcome)
        } catch {
            logger.error("could not record issuer outcome; recovery will", metadata: ["payment_id": "\(started.id)", "error": "\(error)"])
            return started
        }
    }

    /// `processing` → `succeeded` or `failed`. Finishing twice with the same answer (the live
    /// request and the recovery worker racing) returns the payment as the first one left it.
    public func finish(accountID: String, paymentID: String, outcome: AuthorizationOutcome) async throws -> Payment {
        let target: PaymentStatus
        switch outcome {
        case .approved: target = .succeeded
        case .declined: target = .failed
        }
        return try await database.transaction(logger: logger) { connection in
            // Only a `processing` payment moves (PostgreSQL's row lock orders racing finishers); when
            // none moved, the row says whether this was a repeat of the same answer or an illegal move.
            let moved: Payment?
            switch outcome {
            case .approved:
                moved = try await firstRow(connection.execute(MarkSucceeded(accountID: accountID, key: paymentID), logger: logger))
            case .declined(let code):
                moved = try await fetch(
                    connection,
                    """
                    UPDATE payments SET status = 'failed', failure_code = \(code.rawValue)
                    WHERE account_id = \(accountID) AND id = \(paymentID) AND status = 'processing'
                    RETURNING \(unescaped: Payment.columns)
                    """
                )
            }
            guard let updated = moved else {
                guard let current = try await fetch(
                    connection, "SELECT \(unescaped: Payment.columns) FROM payments WHERE account_id = \(accountID) AND id = \(paymentID)"
                ) else { throw PaymentError.notFound }
                if current.status == target { return current }
                throw PaymentError.invalidTransition(from: current.status, to: target)
            }
            try fault(.paymentWritten)
            switch outcome {
            case .approved(let authorizationCode):
                try await record(
                    connection, updated, type: "payment.succeeded",
                    data: [
                        "authorization_code": .string(authorizationCode), "amount": .int(updated.amount.minorUnits),
                        "currency": .string(updated.amount.currency.code),
                    ],
                    posting: Posting(from: "payer_funds", to: "merchant_balance", amount: updated.amount.minorUnits, refundID: nil)
                )
                try fault(.eventWritten)
                try fault(.ledgerWritten)
                return updated
            case .declined(let code):
                try await record(connection, updated, type: "payment.failed", data: ["failure_code": .string(code.rawValue)], posting: nil)
                try fault(.eventWritten)
                if let linkID = updated.paymentLinkID {
                    // A failed payment gives the link's use back.
                    try await connection.query(
                        "UPDATE payment_links SET uses = uses - 1 WHERE account_id = \(accountID) AND id = \(linkID) AND uses > 0",
                        logger: logger
                    )
                }
                if let formID = updated.paymentFormID {
                    try await connection.query(
                        "UPDATE payment_forms SET uses = uses - 1 WHERE account_id = \(accountID) AND id = \(formID) AND uses > 0",
                        logger: logger
                    )
                }
                return updated
            }
        }
    }

    // MARK: - Refunds

    /// Refunds `amount` (all that is left when nil). Concurrent refunds queue on the payment's
    /// row lock, and a CHECK constraint refuses any total above the captured amount regardless.
    public func refund(accountID: String, paymentID: String, amount: Int64?, reason: String?) async throws -> (Refund, Payment) {
        try await database.transaction(logger: logger) { connection in
            guard let current = try await fetch(
                connection, "SELECT \(unescaped: Payment.columns) FROM payments WHERE account_id = \(accountID) AND id = \(paymentID) FOR UPDATE"
            ) else { throw PaymentError.notFound }
            guard current.status == .succeeded || current.status == .partiallyRefunded else { throw PaymentError.notRefundable(current.status) }
            let available = current.refundable
            let value = amount ?? available
            guard value > 0 else { throw PaymentError.amountOutOfRange }
            guard value <= available else { throw PaymentError.refundExceedsCaptured(available: available) }
            let target: PaymentStatus = current.amountRefunded + value == current.amount.minorUnits ? .refunded : .partiallyRefunded
            guard current.status.canMove(to: target) else { throw PaymentError.invalidTransition(from: current.status, to: target) }

            let refundID = Identifier.make("re")
            let trimmedReason = reason.map { String($0.prefix(500)) }.flatMap { $0.isEmpty ? nil : $0 }
            try await connection.query(
                """
                INSERT INTO refunds (account_id, id, payment_id, amount, currency, reason)
                VALUES (\(accountID), \(refundID), \(paymentID), \(value), \(current.amount.currency.code), \(trimmedReason))
                """,
                logger: logger
            )
            let updated = try await fetchOne(
                connection,
                """
                UPDATE payments SET amount_refunded = amount_refunded + \(value), status = \(target.rawValue)
                WHERE account_id = \(accountID) AND id = \(paymentID)
                RETURNING \(unescaped: Payment.columns)
                """
            )
            try fault(.paymentWritten)
            try await record(
                connection, updated, type: "payment.refunded",
                data: [
                    "refund": .string(refundID), "amount": .int(value), "amount_refunded": .int(updated.amountRefunded),
                    "currency": .string(updated.amount.currency.code),
                ],
                posting: Posting(from: "merchant_balance", to: "payer_funds", amount: value, refundID: refundID)
            )
            try fault(.eventWritten)
            try fault(.ledgerWritten)
            let refund = Refund(id: refundID, paymentID: paymentID, amount: Money(minorUnits: value, currency: updated.amount.currency), reason: trimmedReason, status: "succeeded", createdAt: updated.updatedAt)
            return (refund, updated)
        }
    }

    // MARK: - Recovery

    /// Finishes payments left in `processing` longer than `settings.recoverAfter` (a crash or a
    /// lost connection between the two transactions) by asking the issuer about each attempt.
    /// Returns how many it finished.
    public func recoverStuckPayments(limit: Int = 100) async throws -> Int {
        let seconds = Double(settings.recoverAfter.components.seconds) + Double(settings.recoverAfter.components.attoseconds) / 1e18
        let rows = try await database.query(
            """
            SELECT \(unescaped: Payment.columns) FROM payments
            WHERE status = 'processing' AND processing_started_at < now() - make_interval(secs => \(seconds))
            ORDER BY processing_started_at LIMIT \(limit)
            """,
            logger: logger
        )
        var stuck: [Payment] = []
        for try await row in rows { stuck.append(try Payment(row: row)) }
        var finished = 0
        for payment in stuck {
            guard let attemptID = payment.attemptID, let issuerID = payment.issuerID else { continue }
            do {
                let outcome = try await issuer.resolve(attemptID: attemptID, issuerID: issuerID)
                _ = try await finish(accountID: payment.accountID, paymentID: payment.id, outcome: outcome)
                finished += 1
                logger.notice("recovered payment", metadata: ["payment_id": "\(payment.id)", "attempt_id": "\(attemptID)"])
            } catch {
                logger.warning("could not recover payment yet", metadata: ["payment_id": "\(payment.id)", "error": "\(error)"])
            }
        }
        return finished
    }

    // MARK: - Building blocks (inside a transaction)

    /// Locks the payment row, checks the transition is legal and runs `apply` in the same transaction.
    private func change(
        accountID: String, paymentID: String, to target: PaymentStatus,
        _ apply: @escaping (PostgresConnection, Payment) async throws -> Payment
    ) async throws -> Payment {
        try await database.transaction(logger: logger) { connection in
            guard let current = try await fetch(
                connection, "SELECT \(unescaped: Payment.columns) FROM payments WHERE account_id = \(accountID) AND id = \(paymentID) FOR UPDATE"
            ) else { throw PaymentError.notFound }
            guard current.status.canMove(to: target) else { throw PaymentError.invalidTransition(from: current.status, to: target) }
            return try await apply(connection, current)
        }
    }

    /// An API payment waiting for a card, and its `payment.created` event, in one statement.
    private func insert(_ connection: PostgresConnection, accountID: String, amount: Money, description: String, email: String?) async throws -> Payment {
        let id = Identifier.make("pay")
        let event = try Self.createdEventJSON(amount: amount, linkID: nil, formID: nil)
        return try await fetchOne(
            connection,
            """
            WITH created AS (
                INSERT INTO payments (account_id, id, status, amount, currency, description, email)
                VALUES (\(accountID), \(id), 'requires_payment', \(amount.minorUnits), \(amount.currency.code), \(description), \(email))
                RETURNING *
            ), event AS (
                INSERT INTO payment_events (account_id, id, payment_id, type, data)
                SELECT account_id, \(Identifier.make("evt")), id, 'payment.created', \(event)::jsonb FROM created
            )
            SELECT \(unescaped: Payment.columns) FROM created
            """
        )
    }

    private static func processingEventJSON(attemptID: String, issuer: Issuer, card: CardDetails) throws -> String {
        try eventJSON(
            .processing,
            ["attempt_id": .string(attemptID), "issuer": .string(issuer.id), "card_brand": .string(card.network.rawValue), "card_last4": .string(card.last4)]
        )
    }

    private static func createdEventJSON(amount: Money, linkID: String?, formID: String?) throws -> String {
        var data: [String: EventValue] = ["amount": .int(amount.minorUnits), "currency": .string(amount.currency.code)]
        if let linkID { data["payment_link"] = .string(linkID) }
        if let formID { data["payment_form"] = .string(formID) }
        return try Self.eventJSON(.requiresPayment, data)
    }

    /// A checkout's payment, born `processing`: the row and both of its events (`payment.created`,
    /// then `payment.processing`) in one statement, so a checkout writes the payment row once instead
    /// of inserting it and moving it in a second, index-heavy update. The transaction log reads as
    /// for any payment; nobody could see the `requires_payment` state in between anyway.
    private func insertProcessing(
        _ connection: PostgresConnection, accountID: String, amount: Money, description: String, linkID: String?,
        singleUse: Bool, attemptToken: String, email: String?, formID: String? = nil, answers: [FieldAnswer] = [],
        card: CardDetails, issuer: Issuer, method: PaymentMethod
    ) async throws -> Payment {
        let attemptID = Identifier.make("att")
        let answersJSON = String(decoding: try JSONEncoder().encode(answers), as: UTF8.self)
        let created = try Self.createdEventJSON(amount: amount, linkID: linkID, formID: formID)
        let processing = try Self.processingEventJSON(attemptID: attemptID, issuer: issuer, card: card)
        let statement = InsertProcessingPayment(
            accountID: accountID, id: Identifier.make("pay"), amount: amount, description: description, linkID: linkID,
            singleUseLinkID: singleUse ? linkID : nil, attemptToken: attemptToken, email: email, formID: formID, answersJSON: answersJSON,
            attemptID: attemptID, issuerID: issuer.id, methodID: method.id, card: card, fingerprint: card.fingerprint(key: fingerprintKey),
            createdEvent: (Identifier.make("evt"), created), processingEvent: (Identifier.make("evt"), processing)
        )
        guard let payment = try await firstRow(connection.execute(statement, logger: logger)) else { throw PaymentError.notFound }
        try fault(.paymentWritten)
        return payment
    }

    private func startProcessing(_ connection: PostgresConnection, _ payment: Payment, card: CardDetails, issuer: Issuer, method: PaymentMethod) async throws -> Payment {
        let attemptID = Identifier.make("att")
        let event = try Self.processingEventJSON(attemptID: attemptID, issuer: issuer, card: card)
        // The move and its `payment.processing` event in one statement.
        let updated = try await fetchOne(
            connection,
            """
            WITH moved AS (
                UPDATE payments SET status = 'processing', attempt_id = \(attemptID), issuer_id = \(issuer.id),
                    payment_method_id = \(method.id), card_brand = \(card.network.rawValue), card_last4 = \(card.last4),
                    card_exp_month = \(card.expMonth), card_exp_year = \(card.expYear),
                    card_fingerprint = \(card.fingerprint(key: fingerprintKey)), cardholder_name = \(card.holderName),
                    processing_started_at = now()
                WHERE account_id = \(payment.accountID) AND id = \(payment.id)
                RETURNING *
            ), event AS (
                INSERT INTO payment_events (account_id, id, payment_id, type, data)
                SELECT account_id, \(Identifier.make("evt")), id, 'payment.processing', \(event)::jsonb FROM moved
            )
            SELECT \(unescaped: Payment.columns) FROM moved
            """
        )
        try fault(.paymentWritten)
        return updated
    }

    private func simpleTransition(_ connection: PostgresConnection, _ payment: Payment, to target: PaymentStatus, event: String) async throws -> Payment {
        let updated = try await fetchOne(
            connection,
            """
            UPDATE payments SET status = \(target.rawValue)
            WHERE account_id = \(payment.accountID) AND id = \(payment.id)
            RETURNING \(unescaped: Payment.columns)
            """
        )
        try fault(.paymentWritten)
        _ = try await appendEvent(connection, updated, type: event, data: [:])
        return updated
    }

    /// An event's data as stored: the given fields and the payment's status, keys sorted.
    private static func eventJSON(_ status: PaymentStatus, _ data: [String: EventValue]) throws -> String {
        var body = data
        body["status"] = .string(status.rawValue)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(body), as: UTF8.self)
    }

    /// Appends to the payment's transaction log; returns the event id.
    private func appendEvent(_ connection: PostgresConnection, _ payment: Payment, type: String, data: [String: EventValue]) async throws -> String {
        let id = Identifier.make("evt")
        let json = try Self.eventJSON(payment.status, data)
        try await connection.query(
            """
            INSERT INTO payment_events (account_id, id, payment_id, type, data)
            VALUES (\(payment.accountID), \(id), \(payment.id), \(type), \(json)::jsonb)
            """,
            logger: logger
        )
        return id
    }

    /// One balanced posting: `amount` leaves `from` and arrives in `to`.
    private struct Posting {
        let from: String
        let to: String
        let amount: Int64
        let refundID: String?
    }

    /// The event of a change the merchant hears about, in one statement: the event row, its balanced
    /// posting when money moved (the event id is the posting id), and the outbox rows that hand it to
    /// the notification and webhook workers.
    private func record(_ connection: PostgresConnection, _ payment: Payment, type: String, data: [String: EventValue], posting: Posting?) async throws {
        let eventID = Identifier.make("evt")
        let json = try Self.eventJSON(payment.status, data)
        let (account, id, currency) = (payment.accountID, payment.id, payment.amount.currency.code)
        if let posting {
            let statement = RecordPosting(
                accountID: account, eventID: eventID, paymentID: id, type: type, json: json, refundID: posting.refundID,
                from: posting.from, to: posting.to, currency: currency, amount: posting.amount
            )
            // No rows; reading the answer to its end waits for the statement to complete.
            for try await _ in try await connection.execute(statement, logger: logger) {}
        } else {
            try await connection.query(
                """
                WITH event AS (
                    INSERT INTO payment_events (account_id, id, payment_id, type, data) VALUES (\(account), \(eventID), \(id), \(type), \(json)::jsonb)
                )
                INSERT INTO outbox (account_id, topic, event_id, event_type) VALUES
                    (\(account), 'notification', \(eventID), \(type)), (\(account), 'webhook', \(eventID), \(type))
                """,
                logger: logger
            )
        }
    }

    /// The issuer for the card and the merchant's method that accepts it in `currency`.
    private func route(_ card: CardDetails, accountID: String, currency: Currency, allowed: [String]) async throws -> (Issuer, PaymentMethod) {
        guard let routed = try await issuers.catalog().route(card) else { throw PaymentError.cardNotAccepted(network: card.network, issuer: card.network.displayName) }
        let accepted = try await methods.list(accountID: accountID)
        guard let method = accepted.first(where: { $0.issuerID == routed.id && $0.accepts(currency) && (allowed.isEmpty || allowed.contains($0.id)) }),
            routed.supports(currency)
        else {
            // A network's test issuer stands for "any other card of that network": name the network.
            throw PaymentError.cardNotAccepted(network: card.network, issuer: routed.isTestIssuer ? card.network.displayName : routed.name)
        }
        return (routed, method)
    }

    private func lock(_ keys: [String]) async throws -> [(String, String)]? {
        guard let locks else { return [] }
        var held: [(String, String)] = []
        for key in keys {
            do {
                guard let token = try await locks.acquire("lock:" + key, ttlMilliseconds: settings.lockTTLMilliseconds) else {
                    unlock(held)
                    return nil
                }
                held.append(("lock:" + key, token))
            } catch {
                // Redis is down: the database still refuses duplicates, so carry on without it.
                logger.warning("payment lock unavailable; relying on the database", metadata: ["error": "\(error)"])
            }
        }
        return held
    }

    private func unlock(_ held: [(String, String)]) {
        guard let locks, !held.isEmpty else { return }
        Task { for (key, token) in held { try? await locks.release(key, token: token) } }
    }

    private func fetch(_ connection: PostgresConnection, _ query: PostgresQuery) async throws -> Payment? {
        let rows = try await connection.query(query, logger: logger)
        var found: [Payment] = []
        for try await row in rows { found.append(try Payment(row: row)) }
        return found.first
    }

    private func fetchOne(_ connection: PostgresConnection, _ query: PostgresQuery) async throws -> Payment {
        guard let payment = try await fetch(connection, query) else { throw PaymentError.notFound }
        return payment
    }
}

/// A value in an event's data.
enum EventValue: Encodable, Sendable {
    case string(String)
    case int(Int64)

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        }
    }
}
