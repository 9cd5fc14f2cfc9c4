import Crypto
import Foundation
import Logging
import PostgresNIO

/// The payment core's operations. Every state change is one PostgreSQL transaction that writes the
/// payment row and its event (through the `EventLog`, the only writer of events), or nothing at all;
/// the ledger, notifications, webhooks and history totals are derived from the events afterwards.
public struct Payments: Sendable {
    public struct Settings: Sendable {
        public var maximumAmount: Int64
        /// How long a payment may sit in `processing` before the recovery worker asks the issuer.
        public var recoverAfter: Duration
        /// Group commit: batches in flight per transition and items per batch.
        public var batches: BatchSettings
        /// How long links, forms and methods are cached in this process.
        public var cacheTTL: Duration

        public init(
            maximumAmount: Int64 = Money.defaultMaximum, recoverAfter: Duration = .seconds(60),
            batches: BatchSettings = .init(), cacheTTL: Duration = .seconds(5)
        ) {
            self.maximumAmount = maximumAmount
            self.recoverAfter = recoverAfter
            self.batches = batches
            self.cacheTTL = cacheTTL
        }
    }

    let database: PostgresClient
    public let issuers: IssuerCatalogCache
    let issuer: GuardedIssuer
    let fingerprintKey: SymmetricKey
    let settings: Settings
    let logger: Logger
    public let cache: CheckoutCache
    let riskCache: ExpiringRules
    public let log: EventLog
    let starter: Batcher<StartItem, StartRow>
    let finisher: Batcher<FinishItem, FinishRow>
    let fault: @Sendable (Step) throws -> Void
    let observer: PaymentsObserver
    /// Where the merchants' lists are read (a replica when there is one; `ReplicaReads`).
    public let reads: ReplicaReads

    /// `observer` hears batch sizes, checkout outcomes and statuses reached (for metrics).
    public init(
        database: PostgresClient,
        issuers: IssuerCatalogCache,
        issuer: GuardedIssuer,
        fingerprintKey: SymmetricKey,
        settings: Settings = .init(),
        logger: Logger,
        observer: PaymentsObserver = .none,
        reads: ReplicaReads? = nil,
        fault: @escaping @Sendable (Step) throws -> Void = { _ in }
    ) {
        self.reads = reads ?? .primaryOnly(database, logger: logger)
        self.fault = fault
        self.observer = observer
        self.database = database
        self.issuers = issuers
        self.issuer = issuer
        self.fingerprintKey = fingerprintKey
        self.settings = settings
        self.logger = logger
        self.cache = CheckoutCache(ttl: settings.cacheTTL)
        self.riskCache = ExpiringRules(ttl: settings.cacheTTL)
        let log = EventLog(database: database, logger: logger)
        self.log = log
        let fault = self.fault
        let startSizes: @Sendable (Int) -> Void = { observer.batch("start", $0) }
        let finishSizes: @Sendable (Int) -> Void = { observer.batch("finish", $0) }
        let start: Batcher<StartItem, StartRow>.Run = { items in try await log.start(items, fault: fault) }
        let finish: Batcher<FinishItem, FinishRow>.Run = { items in try await log.finish(items, fault: fault) }
        self.starter = Batcher(name: "start", settings: settings.batches, isItemError: isItemError, sizes: startSizes, run: start)
        self.finisher = Batcher(name: "finish", settings: settings.batches, isItemError: isItemError, sizes: finishSizes, run: finish)
    }

    public var methods: PaymentMethods { PaymentMethods(database: database, issuers: issuers, cache: cache, logger: logger) }
    public var links: PaymentLinks { PaymentLinks(database: database, methods: methods, settings: settings, cache: cache, log: log, logger: logger) }
    /// The history on the primary (its consumer, and reads that must see every write).
    public var history: PaymentHistory { PaymentHistory(database: database, logger: logger) }

    /// Reads of `account`'s lists (history, CSV, charts, `GET /v1/payments`): on the replica when it
    /// holds the account's own writes, else on the primary (`ReplicaReads`). One body, one server:
    /// a page's list and totals agree with each other.
    public func reading<T: Sendable>(_ account: AccountID, _ body: @escaping @Sendable (PaymentHistory) async throws -> T) async throws -> T {
        let logger = self.logger
        return try await reads.read(account) { try await body(PaymentHistory(database: $0, logger: logger)) }
    }
    public var forms: PaymentForms {
        PaymentForms(database: database, methods: methods, cache: cache, logger: logger, maximumAmount: settings.maximumAmount)
    }
    public var ledger: Ledger { Ledger(database: database, logger: logger) }
    public var risk: RiskStore { RiskStore(database: database, logger: logger, cache: riskCache) }
    public var checkout: Checkout { Checkout(payments: self) }
    /// Each issuer this process has called, and whether its circuit is open now.
    public var issuerCircuits: [String: Bool] { issuer.breaker.snapshot() }
    public var maximumAmount: Int64 { settings.maximumAmount }

    /// Every issuer Kassa routes to.
    public func catalog() async throws -> IssuerCatalog { try await issuers.catalog() }

    // MARK: - Reading

    public func payment(id: PaymentID) async throws -> Payment? {
        try await database.withConnection { try await fetch($0, "SELECT \(unescaped: Payment.columns) FROM payments WHERE id = \(id)") }
    }

    public func payment(accountID: AccountID, id: PaymentID) async throws -> Payment? {
        try await firstRow(database.execute(PaymentByID(accountID: accountID, key: id.rawValue), logger: logger))
    }

    public func payment(accountID: AccountID, attemptToken: String) async throws -> Payment? {
        try await firstRow(database.execute(PaymentByAttemptToken(accountID: accountID, key: attemptToken), logger: logger))
    }

    /// The payment's transaction log, oldest first.
    public func events(accountID: AccountID, paymentID: PaymentID) async throws -> [PaymentEvent] {
        try await log.events(accountID: accountID, paymentID: paymentID)
    }

    /// The account's transaction log, newest first, after the event `after`.
    public func accountEvents(
        accountID: AccountID, type: EventType?, after: String?, limit: Int
    ) async throws -> (events: [AccountEvent], hasMore: Bool) {
        try await log.accountEvents(accountID: accountID, type: type, after: after, limit: limit)
    }

    public func refunds(accountID: AccountID, paymentID: PaymentID) async throws -> [Refund] {
        try await allRows(database.execute(RefundsOfPayment(accountID: accountID, key: paymentID.rawValue), logger: logger))
    }

    /// The merchant's balance per currency: captured minus refunded, from the ledger (as far as its
    /// consumer has read the log; `ledger.asOf` says how far that is).
    public func balances(accountID: AccountID) async throws -> [Money] {
        try await ledger.balances(accountID: accountID)
    }

    /// What the dashboard shows above its lists, in one query: the balances, since when the ledger
    /// and the kept totals lag the log by more than a second (nil when current), and whether the
    /// merchant has any payment method yet.
    public struct Overview: Sendable, Equatable {
        public let balances: [Money]
        public let balancesAsOf: Date?
        public let totalsAsOf: Date?
        public let hasMethods: Bool
    }

    public func overview(accountID: AccountID) async throws -> Overview {
        try await dashboard(accountID: accountID, expiringWithin: 0).0
    }

    /// What the dashboard reads from the primary, in one statement (`DashboardOverview`): the
    /// overview, the merchant's unread notifications (the header's badge, counted up to
    /// `PaymentHistory.unreadLimit`) and the links that run out within `seconds`, soonest first.
    public func dashboard(accountID: AccountID, expiringWithin seconds: Int) async throws -> (Overview, unread: Int, expiring: [PaymentLink]) {
        var overview = Overview(balances: [], balancesAsOf: nil, totalsAsOf: nil, hasMethods: false)
        var unread = 0
        var expiring: [PaymentLink] = []
        var first = true
        for try await row in try await database.execute(DashboardOverview(accountID: accountID, seconds: Double(seconds)), logger: logger) {
            let cells = row.makeRandomAccess()
            if first {
                first = false
                (overview, unread) = try Self.overview(cells)
            }
            // The row of a merchant without such links carries only the figures.
            if try cells["id"].decode(String?.self) != nil { expiring.append(try PaymentLink(row: row)) }
        }
        return (overview, unread, expiring)
    }

    /// `dashboard` and the merchant's newest payments (up to `PaymentHistory.recentSize`), in one
    /// round trip when there is no replica (`DashboardWithRecent`; a second reads the links running
    /// out, only when some do). With a replica, `recent` is nil: the caller reads them there
    /// (`reading`), as every history read.
    public func dashboardAndRecent(
        accountID: AccountID, expiringWithin seconds: Int
    ) async throws -> (Overview, unread: Int, expiring: [PaymentLink], recent: [ListedPayment]?) {
        guard reads.replica == nil else {
            let (overview, unread, expiring) = try await dashboard(accountID: accountID, expiringWithin: seconds)
            return (overview, unread, expiring, nil)
        }
        var overview = Overview(balances: [], balancesAsOf: nil, totalsAsOf: nil, hasMethods: false)
        var unread = 0
        var linksExpiring = false
        var recent: [ListedPayment] = []
        var first = true
        for try await row in try await database.execute(DashboardWithRecent(accountID: accountID, seconds: Double(seconds)), logger: logger) {
            let cells = row.makeRandomAccess()
            if first {
                first = false
                (overview, unread) = try Self.overview(cells)
                linksExpiring = try cells["overview_links_expiring"].decode(Bool.self)
            }
            // The row of a merchant without payments carries only the figures; its payment's columns come first.
            if try cells[0].decode(String?.self) != nil { recent.append(try ListedPayment(cells: cells)) }
        }
        let expiring =
            linksExpiring ? try await allRows(database.execute(ExpiringLinks(accountID: accountID, seconds: Double(seconds)), logger: logger)) : []
        return (overview, unread, expiring, Array(recent.prefix(PaymentHistory.recentSize)))
    }

    /// The figures and the badge from the `overview_` columns of a dashboard statement's first row.
    private static func overview(_ cells: PostgresRandomAccessRow) throws -> (Overview, unread: Int) {
        let codes = try cells["overview_codes"].decode([String].self)
        let amounts = try cells["overview_balances"].decode([Int64].self)
        let overview = Overview(
            balances: zip(codes, amounts).compactMap { code, amount in Currency(code: code).map { Money(minorUnits: amount, currency: $0) } },
            balancesAsOf: try cells["overview_ledger_since"].decode(Date?.self),
            totalsAsOf: try cells["overview_totals_since"].decode(Date?.self),
            hasMethods: try cells["overview_has_methods"].decode(Bool.self))
        return (overview, Int(try cells["overview_unread"].decode(Int64.self)))
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

    // MARK: - The checkout's steps (Checkout drives them)

    /// The start batch's item for a checkout: fresh ids, the card as stored, both events' data.
    func startItem(
        _ request: CheckoutRequest, accountID: AccountID, currency: Currency, issuer: Issuer, method: PaymentMethod, fingerprint: String,
        risk: RiskAssessment
    ) -> StartItem {
        let card = request.card
        let attemptID = Identifier.make("att")
        let amount: Int64
        let description: String
        let linkID: String
        let formID: String
        var answersJSON = "[]"
        var created = EventData(status: .requiresPayment)
        let realm: String?
        switch request.subject {
        case .link(let link):
            (amount, description, linkID, formID) = (link.amount.minorUnits, link.description, link.id.rawValue, "")
            created["payment_link"] = .string(link.id.rawValue)
            realm = link.realm
        case .form(let form, let money, let answers):
            (amount, description, linkID, formID) = (money.minorUnits, form.title, "", form.id.rawValue)
            created["payment_form"] = .string(form.id.rawValue)
            answersJSON = FieldAnswer.json(answers)
            realm = request.realm ?? form.realm
        }
        created["amount"] = .int(amount)
        created["currency"] = .string(currency.code)
        if let realm { created["realm"] = .string(realm) }
        let processing = EventData(
            status: .processing,
            [
                "attempt_id": .string(attemptID), "issuer": .string(issuer.id), "card_brand": .string(card.network.rawValue),
                "card_last4": .string(card.last4), "risk_score": .int(Int64(risk.score)),
            ]
        )
        return StartItem(
            accountID: accountID, linkID: linkID, formID: formID, paymentID: .make(), amount: amount, currency: currency.code,
            description: description, attemptToken: request.attemptToken, email: request.email ?? "", answersJSON: answersJSON,
            attemptID: attemptID, issuerID: issuer.id, methodID: method.id, brand: card.network.rawValue, last4: card.last4,
            expMonth: Int32(card.expMonth), expYear: Int32(card.expYear), fingerprint: fingerprint, holder: card.holderName,
            createdEventID: Identifier.make("evt"), createdData: created.json, processingEventID: Identifier.make("evt"),
            processingData: processing.json, realm: realm ?? "", riskScore: Int32(risk.score), riskRules: risk.rules.joined(separator: ",")
        )
    }

    /// Asks the issuer and commits its answer. When the issuer cannot be reached, or the answer
    /// cannot be committed, the payment stays `processing` and the recovery worker finishes it;
    /// nothing is lost either way.
    func authorize(_ request: AuthorizationRequest, accountID: AccountID, paymentID: PaymentID) async -> CheckoutReceipt {
        let pending = CheckoutReceipt(paymentID: paymentID, status: .processing, failureCode: nil)
        let outcome: AuthorizationOutcome
        do {
            outcome = try await Trace.span("issuer.authorize", kind: .client, attributes: [("kassa.issuer", request.issuerID)]) { _ in
                try await issuer.authorize(request)
            }
        } catch {
            logger.warning("issuer call failed", metadata: ["payment_id": "\(paymentID)", "issuer": "\(request.issuerID)", "error": "\(error)"])
            do {
                // It may have decided before we stopped listening; asking settles it either way.
                outcome = try await issuer.resolve(attemptID: request.attemptID, issuerID: request.issuerID)
            } catch {
                return pending
            }
        }
        do {
            return try await settle(accountID: accountID, paymentID: paymentID, amount: request.amount, outcome: outcome)
        } catch {
            logger.error("could not record issuer outcome; recovery will", metadata: ["payment_id": "\(paymentID)", "error": "\(error)"])
            return pending
        }
    }

    /// `processing` → `succeeded` or `failed` through the finish batch. Finishing twice with the same
    /// answer (the live request and the recovery worker racing) returns the payment as the first
    /// one left it; any other move is refused.
    private func settle(accountID: AccountID, paymentID: PaymentID, amount: Money, outcome: AuthorizationOutcome) async throws -> CheckoutReceipt {
        let item: FinishItem
        let target: PaymentStatus
        switch outcome {
        case .approved(let code):
            target = .succeeded
            let data = EventData(
                status: .succeeded,
                ["authorization_code": .string(code), "amount": .int(amount.minorUnits), "currency": .string(amount.currency.code)])
            item = FinishItem(
                accountID: accountID, paymentID: paymentID, approved: true, failureCode: "", eventID: Identifier.make("evt"), data: data.json)
        case .declined(let code):
            target = .failed
            let data = EventData(status: .failed, ["failure_code": .string(code.rawValue)])
            item = FinishItem(
                accountID: accountID, paymentID: paymentID, approved: false, failureCode: code.rawValue, eventID: Identifier.make("evt"),
                data: data.json)
        }
        let row = try await Trace.span("checkout.finish") { _ in try await finisher.submit(item) }
        guard let status = row.status else { throw PaymentError.notFound }
        // An approval of a manual-capture payment lands as `authorized`.
        guard row.moved || status == target || (target == .succeeded && status == .authorized) else {
            throw PaymentError.invalidTransition(from: status, to: target)
        }
        return CheckoutReceipt(paymentID: paymentID, status: status, failureCode: row.failureCode)
    }

    /// Refuses a started payment that its risk rules blocked: `failed` with `fraud_suspected`
    /// through the finish batch, without asking the issuer.
    func refuse(accountID: AccountID, paymentID: PaymentID, amount: Money) async throws -> CheckoutReceipt {
        try await settle(accountID: accountID, paymentID: paymentID, amount: amount, outcome: .declined(.fraudSuspected))
    }

    /// `processing` → `succeeded` or `failed` with the issuer's answer (recovery's and tests' way in;
    /// checkouts finish through `Checkout`). Returns the payment as it is afterwards.
    public func finish(accountID: AccountID, paymentID: PaymentID, outcome: AuthorizationOutcome) async throws -> Payment {
        guard let current = try await payment(accountID: accountID, id: paymentID) else { throw PaymentError.notFound }
        _ = try await settle(accountID: accountID, paymentID: paymentID, amount: current.amount, outcome: outcome)
        guard let finished = try await payment(accountID: accountID, id: paymentID) else { throw PaymentError.notFound }
        return finished
    }

    // MARK: - Refunds

    /// Refunds `amount` (all that is left when nil). Concurrent refunds queue on the payment's row
    /// lock (the only row a refund locks, so it keeps the lock order of the batches), and a CHECK
    /// constraint refuses any total above the captured amount regardless.
    /// The rules a refund's own text must keep (the amount's depend on the payment, and are checked
    /// under its lock): checked here for both presenters. Field names as the form and the API use them.
    public static func refundProblems(reason: String?) -> [FieldProblem] {
        guard let reason else { return [] }
        if reason.length > 500 { return [FieldProblem(field: "reason", message: "Use at most 500 characters for the reason.")] }
        if reason.unicodeScalars.contains("\u{0}") { return [FieldProblem(field: "reason", message: "The reason cannot contain a NUL character.")] }
        return []
    }

    public func refund(accountID: AccountID, paymentID: PaymentID, amount: Int64?, reason: String?) async throws -> (Refund, Payment) {
        let problems = Self.refundProblems(reason: reason)
        guard problems.isEmpty else { throw FieldProblems(problems) }
        let done = try await database.transaction(logger: logger) { connection in
            guard
                let current = try await fetch(
                    connection, "SELECT \(unescaped: Payment.columns) FROM payments WHERE account_id = \(accountID) AND id = \(paymentID) FOR UPDATE"
                )
            else { throw PaymentError.notFound }
            guard current.status == .succeeded || current.status == .partiallyRefunded else { throw PaymentError.notRefundable(current.status) }
            let available = current.refundable
            let value = amount ?? available
            guard value > 0 else { throw PaymentError.amountOutOfRange }
            guard value <= available else {
                throw PaymentError.refundExceedsCaptured(available: Money(minorUnits: available, currency: current.amount.currency))
            }
            let target: PaymentStatus = current.amountRefunded + value == current.amount.minorUnits ? .refunded : .partiallyRefunded
            guard current.status.canMove(to: target) else { throw PaymentError.invalidTransition(from: current.status, to: target) }

            let refundID = Identifier.make("re")
            let trimmedReason = reason.flatMap { $0.isEmpty ? nil : $0 }
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
            let data = EventData(
                status: updated.status,
                [
                    "refund": .string(refundID), "amount": .int(value), "amount_refunded": .int(updated.amountRefunded),
                    "currency": .string(updated.amount.currency.code),
                ]
            )
            try await log.append(connection, accountID: accountID, paymentID: paymentID, type: .paymentRefunded, data: data)
            try fault(.eventWritten)
            let refund = Refund(
                id: refundID, paymentID: paymentID, amount: Money(minorUnits: value, currency: updated.amount.currency), reason: trimmedReason,
                status: .succeeded, createdAt: updated.updatedAt)
            return (refund, updated)
        }
        observer.status(done.1.status)
        return done
    }

    /// Points inside a transition where a test may make it fail, to show nothing half-written
    /// remains: after a batch's statement (before its COMMIT), and inside a refund.
    public enum Step: Sendable, Equatable {
        case batchWritten, paymentWritten, eventWritten
    }

    // MARK: - Recovery

    /// Finishes payments left in `processing` longer than `settings.recoverAfter` (a crash or a
    /// lost connection between the transactions) by asking the issuer about each attempt; the
    /// answers go through the finish batch like any other. Returns how many it finished.
    public func recoverStuckPayments(limit: Int = 100) async throws -> Int {
        let seconds = Double(settings.recoverAfter.components.seconds) + Double(settings.recoverAfter.components.attoseconds) / 1e18
        let rows = try await database.query(
            """
            SELECT \(unescaped: Payment.columns) FROM payments
            WHERE status = 'processing' AND (account_id, id) IN (
                SELECT account_id, payment_id FROM payments_in_flight
                WHERE started_at < now() - make_interval(secs => \(seconds)) ORDER BY started_at LIMIT \(limit))
            ORDER BY processing_started_at
            """,
            logger: logger
        )
        var stuck: [Payment] = []
        for try await row in rows { stuck.append(try Payment(row: row)) }
        // Nothing but the finish batch takes a payment out of flight, and it empties its row in the
        // same statement; a row whose payment is no longer processing would be a bug, not a queue entry.
        try await database.query(
            """
            DELETE FROM payments_in_flight f
            WHERE started_at < now() - make_interval(secs => \(seconds))
              AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.account_id = f.account_id AND p.id = f.payment_id AND p.status = 'processing')
            """,
            logger: logger
        )
        return await withTaskGroup(of: Bool.self) { group in
            for payment in stuck {
                group.addTask { await recover(payment) }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
    }

    private func recover(_ payment: Payment) async -> Bool {
        guard let attemptID = payment.attemptID, let issuerID = payment.issuerID else { return false }
        do {
            let outcome = try await issuer.resolve(attemptID: attemptID, issuerID: issuerID)
            _ = try await settle(accountID: payment.accountID, paymentID: payment.id, amount: payment.amount, outcome: outcome)
            logger.notice("recovered payment", metadata: ["payment_id": "\(payment.id)", "attempt_id": "\(attemptID)"])
            return true
        } catch {
            logger.warning("could not recover payment yet", metadata: ["payment_id": "\(payment.id)", "error": "\(error)"])
            return false
        }
    }

    // MARK: - Building blocks

    func fetch(_ connection: PostgresConnection, _ query: PostgresQuery) async throws -> Payment? {
        let rows = try await connection.query(query, logger: logger)
        var found: [Payment] = []
        for try await row in rows { found.append(try Payment(row: row)) }
        return found.first
    }

    func fetchOne(_ connection: PostgresConnection, _ query: PostgresQuery) async throws -> Payment {
        guard let payment = try await fetch(connection, query) else { throw PaymentError.notFound }
        return payment
    }
}

extension FieldAnswer {
    /// The answers as `payments.custom_fields` stores them: `[{"label":…,"value":…}]`.
    static func json(_ answers: [FieldAnswer]) -> String {
        var out = "["
        for (index, answer) in answers.enumerated() {
            if index > 0 { out += "," }
            out += "{\"label\":"
            EventData.quote(answer.label, into: &out)
            out += ",\"value\":"
            EventData.quote(answer.value, into: &out)
            out += "}"
        }
        return out + "]"
    }
}
