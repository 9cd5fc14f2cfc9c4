import Foundation
import Hummingbird
import Mustache
import PaymentCore

/// `/payments`: the merchant's transaction history, one payment's timeline, refunds, CSV export.
struct PaymentsController: Sendable {
    let payments: Payments
    /// The header's badge: the history page counts it itself (`NotificationBadgeMiddleware.countedByPage`).
    let notifications: Notifications
    let renderer: Renderer
    let audit: AuditLog
    let secureCookies: Bool
    /// How long an authorization waits for its capture (`KASSA_AUTHORIZATION_DAYS`).
    var authorizationDays = Payments.defaultAuthorizationDays
    /// Each account's realms for the filter, read at most once a minute (the page stays two queries).
    let realms = ExpiringCache<AccountID, [String]>(ttl: .seconds(60), capacity: 10_000)
    /// The history's rendered rows (`KeptRows`): 20,000 rows of about 700 bytes at most.
    let keptRows = RowCache<ListedRow.Key>(capacity: 20_000)

    func addRoutes(to router: RouterGroup<MerchantContext>) {
        router.get("/payments", use: self.list)
        router.get("/payments.csv", use: self.csv)
        router.get("/payments/:id", use: self.show)
        router.post("/payments/:id/refunds", use: self.refund)
        router.post("/payments/:id/capture", use: self.capture)
        router.post("/payments/:id/cancel", use: self.cancel)
    }

    // MARK: view models

    struct PaymentRow: Sendable, Hashable {
        let id: String
        let date: String
        let description: String
        let amount: String
        let status: String
        let statusClass: String
        let card: String?
        let email: String?
        let refunded: String?
    }

    static func row(_ payment: ListedPayment) -> PaymentRow {
        PaymentRow(
            id: payment.id.rawValue, date: Formats.dateTime(payment.createdAt), description: payment.description, amount: payment.amount.formatted,
            status: payment.status.label, statusClass: statusClass(payment.status),
            card: payment.cardBrand.flatMap { brand in payment.cardLast4.map { "\(brand.displayName) •••• \($0)" } }, email: payment.email,
            refunded: payment.amountRefunded > 0 ? Money(minorUnits: payment.amountRefunded, currency: payment.amount.currency).formatted : nil
        )
    }

    /// "2 succeeded · 1 refunded · 2 failed": the statuses a currency's payments are in, in the
    /// order of the status filter.
    static func countLabel(_ counts: [PaymentStatus: Int]) -> String {
        PaymentStatus.allCases.compactMap { status in counts[status].map { "\($0) \(status.label.lowercased())" } }.joined(separator: " · ")
    }

    static func statusClass(_ status: PaymentStatus) -> String {
        switch status {
        case .succeeded: "ok"
        case .failed: "bad"
        case .processing, .requiresPayment, .authorized: "info"
        case .partiallyRefunded: "warn"
        case .refunded: "refunded"
        case .canceled, .expired: "muted"
        }
    }

    struct TotalRow: Sendable {
        let currency: String
        let net: String
        let countLabel: String
        let refunded: String?
    }

    typealias StatusOption = SelectOption

    struct ListView: Sendable {
        let payments: any KeptRowList
        let hasPayments: Bool
        let totals: [TotalRow]
        let hasTotals: Bool
        /// Set when the totals lag the payments by more than a second.
        let totalsAsOf: String?
        let statuses: [StatusOption]
        /// "Every site" and the account's realms; empty when it names none.
        let realms: [StatusOption]
        let hasRealms: Bool
        let form: [String: String]
        let errors: [String: String]
        let filtered: Bool
        let nextURL: String?
        let firstURL: String?
        let csvURL: String
    }

    struct EventRow: Sendable {
        let time: String
        /// The same moment as a machine reads it (`<time datetime>`).
        let datetime: String
        let title: String
        let detail: String?
        /// The dot's colour on the timeline: `ok`, `bad`, `warn` or `info`.
        let tone: String
    }

    struct RefundRow: Sendable {
        let id: String
        let amount: String
        let reason: String?
        let date: String
    }

    struct ShowView: Sendable {
        let payment: PaymentRow
        let currency: String
        let linkID: String?
        /// The link's description and the form's title, shown instead of their ids.
        let linkName: String?
        let failure: String?
        let holder: String?
        let answers: [FieldAnswer]
        let formID: String?
        let formName: String?
        let realm: String?
        /// An authorized payment: the capture form's and the void button's panel.
        let capturable: Bool
        let voidsOn: String?
        /// "Score 12 · velocity_card", when the checkout was scored.
        let risk: String?
        let events: [EventRow]
        let refunds: [RefundRow]
        let hasRefunds: Bool
        let refundable: Bool
        /// The refund panel: only for a payment that can be refunded, has refunds, or just refused one.
        let showRefunds: Bool
        let remaining: String
        let form: [String: String]
        let errors: [String: String]
        /// Set between a refund's first submit and its confirmation.
        let confirm: RefundConfirmation?
    }

    /// "Refund €24.50 to Visa •••• 4242? This cannot be undone.", with what the form posted.
    struct RefundConfirmation: Sendable {
        let question: String
        let button: String
        let amount: String
        let reason: String
    }

    // MARK: filters

    /// The history's filter from the query string, and what is wrong with it.
    struct Query {
        var filter = PaymentHistory.Filter()
        var values: [String: String] = [:]
        var errors: [String: String] = [:]
        var after: String?

        init(_ parameters: [String: String]) {
            let status = parameters["status"] ?? ""
            values["status"] = status
            if !status.isEmpty {
                if let parsed = PaymentStatus(rawValue: status) {
                    filter.statuses = [parsed]
                } else {
                    errors["status"] = "Choose a status from the list."
                }
            }
            for field in ["from", "to"] {
                let text = (parameters[field] ?? "").trimmingCharacters(in: .whitespaces)
                values[field] = text
                guard !text.isEmpty else { continue }
                guard let day = Self.day(text) else {
                    errors[field] = "Enter a date as YYYY-MM-DD."
                    continue
                }
                if field == "from" { filter.from = day } else { filter.through = day }
            }
            if let from = filter.from, let through = filter.through, through < from {
                errors["to"] = "The end date is before the start date."
                filter.through = nil
            }
            let search = (parameters["q"] ?? "").trimmingCharacters(in: .whitespaces)
            values["q"] = search
            if search.length > 100 {
                errors["q"] = "Search for at most 100 characters."
            } else if search.unicodeScalars.contains(where: { $0.value < 0x20 }) {
                errors["q"] = "Search for letters, digits and punctuation only."
            } else if !search.isEmpty {
                filter.search = search
            }
            let realm = (parameters["realm"] ?? "").trimmingCharacters(in: .whitespaces)
            values["realm"] = realm
            if !realm.isEmpty {
                if let problem = Realm.problem(realm) { errors["realm"] = problem } else { filter.realm = realm }
            }
            if let after = parameters["after"], Identifier.isValid(after, prefix: "pay") { self.after = after }
        }

        static func day(_ text: String) -> Date? {
            let parts = text.split(separator: "-").compactMap { Int($0) }
            guard parts.count == 3, text.count == 10, (1...12).contains(parts[1]), (1...31).contains(parts[2]) else { return nil }
            var components = DateComponents()
            (components.year, components.month, components.day) = (parts[0], parts[1], parts[2])
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            guard let date = calendar.date(from: components), calendar.component(.day, from: date) == parts[2] else { return nil }
            return date
        }

        /// The query string for these filters (for pagination and export links).
        func queryString(after: String? = nil) -> String {
            var items = ["status", "from", "to", "q", "realm"].compactMap { name in
                values[name].flatMap { $0.isEmpty ? nil : "\(name)=\(Self.encode($0))" }
            }
            if let after { items.append("after=\(after)") }
            return items.joined(separator: "&")
        }

        static func encode(_ text: String) -> String {
            text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~"))) ?? ""
        }
    }

    static func parameters(_ request: Request) -> [String: String] {
        var result: [String: String] = [:]
        for (name, value) in request.uri.queryParameters { result[String(name)] = String(value) }
        return result
    }

    // MARK: handlers

    func list(_ request: Request, context: MerchantContext) async throws -> Response {
        var context = context
        let session = context.session
        let query = Query(Self.parameters(request))
        let (filter, after, realms, notifications) = (query.filter, query.after, self.realms, self.notifications)
        // The list, its totals, the badge and the realms, from one server (a replica that holds the
        // merchant's writes); the unfiltered first page reads all but the realms in one statement.
        let (page, summary, unread, known) = try await payments.reading(session.accountID) { history in
            let (page, summary, unread) =
                filter == PaymentHistory.Filter() && after == nil
                ? try await history.firstPage(accountID: session.accountID)
                : (
                    try await history.listing(accountID: session.accountID, filter: filter, after: after),
                    try await history.summary(accountID: session.accountID, filter: filter),
                    try? await notifications.unreadCount(accountID: session.accountID)
                )
            let known = try await realms.value(session.accountID) { try await history.realms(accountID: session.accountID) }
            return (page, summary, unread, known)
        }
        context.request.unreadNotifications = unread
        let totals = summary.totals
        let base = query.queryString()
        let chosenRealm = query.values["realm"] ?? ""
        var realmOptions = known.map { StatusOption(value: $0, label: $0, selected: $0 == chosenRealm) }
        if !chosenRealm.isEmpty, query.errors["realm"] == nil, !realmOptions.contains(where: \.selected) {
            realmOptions.append(StatusOption(value: chosenRealm, label: chosenRealm, selected: true))
        }
        return renderer.page(
            "payments/index",
            title: "Payments",
            ListView(
                payments: KeptRows(page.payments.map(ListedRow.init), cache: keptRows), hasPayments: !page.payments.isEmpty,
                totals: totals.map {
                    TotalRow(
                        currency: $0.currency.code, net: $0.net.formatted, countLabel: Self.countLabel($0.counts),
                        refunded: $0.refunded.minorUnits > 0 ? $0.refunded.formatted : nil)
                },
                hasTotals: !totals.isEmpty,
                totalsAsOf: summary.asOf.map(Formats.asOf),
                statuses: [StatusOption(value: "", label: "Any status", selected: query.filter.statuses.isEmpty)]
                    + PaymentStatus.allCases.map { StatusOption(value: $0.rawValue, label: $0.label, selected: query.filter.statuses == [$0]) },
                realms: realmOptions.isEmpty && query.errors["realm"] == nil
                    ? [] : [StatusOption(value: "", label: "Every site", selected: chosenRealm.isEmpty)] + realmOptions,
                hasRealms: !realmOptions.isEmpty || query.errors["realm"] != nil,
                form: query.values, errors: query.errors, filtered: !base.isEmpty,
                nextURL: page.nextCursor.map { "/payments?" + query.queryString(after: $0) },
                firstURL: query.after == nil ? nil : "/payments" + (base.isEmpty ? "" : "?" + base),
                csvURL: "/payments.csv" + (base.isEmpty ? "" : "?" + base)
            ),
            context: context,
            status: query.errors.isEmpty ? .ok : .badRequest,
            bodyClass: query.after == nil ? "live" : ""
        )
    }

    func show(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let id = try context.parameters.require("id", as: PaymentID.self)
        return try await render(accountID: session.accountID, id: id, state: FormState(), context: context, status: .ok)
    }

    /// Captures all or part of an authorized payment (the amount as typed, all of it by default).
    func capture(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let id = try context.parameters.require("id", as: PaymentID.self)
        guard let payment = try await payments.payment(accountID: session.accountID, id: id) else { throw HTTPError(.notFound) }
        let typed = (context.form["capture_amount"] ?? "").trimmingCharacters(in: .whitespaces)
        var state = FormState(values: ["capture_amount": typed])
        var amount: Int64? = nil
        if !typed.isEmpty {
            do {
                amount = try Money.parse(typed, currency: payment.amount.currency, maximum: payments.maximumAmount).minorUnits
            } catch {
                state.errors["capture_amount"] = error.description
            }
        }
        if !state.hasErrors {
            do {
                let captured = try await payments.capture(accountID: session.accountID, paymentID: id, amount: amount)
                await audit.record(
                    session, "payment.captured", detail: "\(captured.amount.formatted) of \(id.rawValue)", client: context.request.remoteAddress)
                return .redirect(to: "/payments/\(id)", flash: .captured, secureCookies: secureCookies)
            } catch PaymentError.captureExceedsAuthorized(let available) {
                state.errors["capture_amount"] = "You can capture at most \(available.formatted), the authorized amount."
            } catch PaymentError.invalidTransition(let from, _) {
                state.errors["capture_amount"] = "This payment is \(from.label.lowercased()); only an authorized payment can be captured."
            }
        }
        return try await render(accountID: session.accountID, id: id, state: state, context: context, status: .unprocessableContent)
    }

    /// Voids an authorized payment: nothing is taken.
    func cancel(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let id = try context.parameters.require("id", as: PaymentID.self)
        do {
            _ = try await payments.cancel(accountID: session.accountID, paymentID: id)
        } catch PaymentError.invalidTransition(let from, _) {
            var state = FormState()
            state.errors["capture_amount"] = "This payment is \(from.label.lowercased()); only an authorized payment can be voided."
            return try await render(accountID: session.accountID, id: id, state: state, context: context, status: .conflict)
        }
        await audit.record(session, "payment.voided", detail: id.rawValue, client: context.request.remoteAddress)
        return .redirect(to: "/payments/\(id)", flash: .voided, secureCookies: secureCookies)
    }

    func refund(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let id = try context.parameters.require("id", as: PaymentID.self)
        guard let payment = try await payments.payment(accountID: session.accountID, id: id) else { throw HTTPError(.notFound) }
        let typed = context.form["amount"] ?? ""
        let reason = context.form["reason"] ?? ""
        var state = FormState(values: ["amount": typed, "reason": reason])
        for problem in Payments.refundProblems(reason: reason) { state.errors[problem.field] = problem.message }
        var amount: Money? = nil
        do {
            amount = try Money.parse(typed, currency: payment.amount.currency, maximum: payment.amount.minorUnits)
        } catch .tooLarge {
            state.errors["amount"] = RefundRefusal.exceeds(Money(minorUnits: payment.refundable, currency: payment.amount.currency))
        } catch {
            state.errors["amount"] = error.description
        }
        // What the core would refuse is said before asking (the core checks again under the lock).
        if let amount, !state.hasErrors {
            if payment.refundable == 0 {
                state.errors["amount"] = RefundRefusal.notRefundable(payment.status)
            } else if amount.minorUnits > payment.refundable {
                state.errors["amount"] = RefundRefusal.exceeds(Money(minorUnits: payment.refundable, currency: payment.amount.currency))
            }
        }
        if let amount, !state.hasErrors {
            // A refund cannot be undone: the first submit only asks, naming the money and the card.
            guard context.form["confirm"] == "yes" else {
                let to = payment.card.map { " to \($0.brand.displayName) •••• \($0.last4)" } ?? ""
                let confirmation = RefundConfirmation(
                    question: "Refund \(amount.formatted)\(to)? This cannot be undone.", button: "Yes, refund \(amount.formatted)",
                    amount: typed, reason: reason)
                return try await render(accountID: session.accountID, id: id, state: state, confirm: confirmation, context: context, status: .ok)
            }
            do {
                let (refund, _) = try await payments.refund(
                    accountID: session.accountID, paymentID: id, amount: amount.minorUnits, reason: reason.isEmpty ? nil : reason
                )
                context.logger.info("refund issued", metadata: ["payment_id": .string(id.rawValue), "refund_id": .string(refund.id)])
                await audit.record(
                    session, "payment.refunded", detail: "\(amount.formatted) of \(id.rawValue) (\(refund.id))", client: context.request.remoteAddress
                )
                return .redirect(to: "/payments/\(id)", flash: .refunded, secureCookies: secureCookies)
            } catch PaymentError.refundExceedsCaptured(let available) {
                state.errors["amount"] = RefundRefusal.exceeds(available)
            } catch PaymentError.notRefundable(let status) {
                state.errors["amount"] = RefundRefusal.notRefundable(status)
            }
        }
        return try await render(accountID: session.accountID, id: id, state: state, context: context, status: .unprocessableContent)
    }

    private func render(
        accountID: AccountID, id: PaymentID, state: FormState, confirm: RefundConfirmation? = nil, context: MerchantContext,
        status: HTTPResponse.Status
    ) async throws -> Response {
        guard let payment = try await payments.payment(accountID: accountID, id: id) else { throw HTTPError(.notFound) }
        let events = try await payments.events(accountID: accountID, paymentID: id)
        let refunds = try await payments.refunds(accountID: accountID, paymentID: id)
        let remaining = Money(minorUnits: payment.refundable, currency: payment.amount.currency)
        var values = state.values
        if values["amount"] == nil { values["amount"] = remaining.decimalString }
        let linkName = try await payment.paymentLinkID.asyncMap { try await payments.links.find(id: $0)?.description }
        let formName = try await payment.paymentFormID.asyncMap { try await payments.forms.find(id: $0, fresh: false)?.title }
        return renderer.page(
            "payments/show",
            title: "Payment \(payment.amount.formatted)",
            ShowView(
                payment: Self.row(ListedPayment(payment)), currency: payment.amount.currency.code, linkID: payment.paymentLinkID?.rawValue,
                linkName: linkName ?? nil, failure: payment.failureCode?.merchantMessage, holder: payment.cardholderName,
                answers: payment.customFields, formID: payment.paymentFormID?.rawValue, formName: formName ?? nil, realm: payment.realm,
                capturable: payment.status == .authorized,
                voidsOn: payment.status == .authorized
                    ? Formats.date(payment.updatedAt.addingTimeInterval(Double(authorizationDays) * 86400)) : nil,
                risk: payment.riskScore.map { score in
                    "Score \(score)" + (payment.riskRules.isEmpty ? "" : " · " + payment.riskRules.joined(separator: ", "))
                },
                events: events.map { Self.eventRow($0, currency: payment.amount.currency) },
                refunds: refunds.map { RefundRow(id: $0.id, amount: $0.amount.formatted, reason: $0.reason, date: Formats.dateTime($0.createdAt)) },
                hasRefunds: !refunds.isEmpty, refundable: payment.refundable > 0,
                showRefunds: payment.refundable > 0 || !refunds.isEmpty || state.errors["amount"] != nil, remaining: remaining.formatted,
                form: values, errors: state.errors, confirm: confirm
            ),
            context: context,
            status: status
        )
    }

    static func eventRow(_ event: PaymentEvent, currency: Currency) -> EventRow {
        let data = (try? JSONSerialization.jsonObject(with: Data(event.data.utf8))) as? [String: Any] ?? [:]
        let amount = (data["amount"] as? NSNumber).map { Money(minorUnits: $0.int64Value, currency: currency).formatted }
        let title: String
        var detail: String? = nil
        let tone: String
        switch event.type {
        case .paymentCreated: (title, tone) = ("Payment created", "info")
        case .paymentProcessing:
            (title, tone) = ("Sent to the card issuer", "info")
            detail = (data["card_last4"] as? String).map { "Card ending \($0)" }
            if let score = data["risk_score"] as? NSNumber { detail = (detail.map { $0 + " · " } ?? "") + "risk score \(score.intValue)" }
        case .paymentSucceeded:
            (title, tone) = ("Payment succeeded", "ok")
            detail = (data["authorization_code"] as? String).map { "Authorization \($0)" }
        case .paymentFailed:
            (title, tone) = ("Payment failed", "bad")
            detail = (data["failure_code"] as? String).flatMap(DeclineCode.init(rawValue:))?.message
        case .paymentRefunded:
            (title, tone) = ("Refunded \(amount ?? "")", "warn")
        case .paymentCanceled: (title, tone) = ("Payment canceled", "bad")
        case .paymentExpired: (title, tone) = ("Payment expired", "bad")
        // A payment's own log holds no link events; named plainly should one ever appear.
        case .paymentLinkExpired: (title, tone) = ("Payment link expired", "bad")
        case .settlementPaid: (title, tone) = ("Paid out", "ok")
        case .paymentAuthorized:
            (title, tone) = ("Authorized: the amount is held", "info")
            detail = (data["authorization_code"] as? String).map { "Authorization \($0)" }
        case .paymentCaptured: (title, tone) = ("Captured \(amount ?? "")", "ok")
        }
        return EventRow(
            time: Formats.dateTime(event.createdAt), datetime: Formats.iso8601(event.createdAt), title: title, detail: detail, tone: tone)
    }

    // MARK: CSV

    static let csvHeader = [
        "id", "created_at", "status", "amount", "currency", "amount_refunded", "description", "email", "card_brand", "card_last4",
        "failure_code", "payment_link", "payment_form", "custom_fields", "realm",
    ]

    /// The filtered history as CSV, streamed in batches so a long history never sits in memory.
    func csv(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let query = Query(Self.parameters(request))
        guard query.errors.isEmpty else { throw HTTPError(.badRequest, message: query.errors.values.sorted().joined(separator: " ")) }
        let accountID = session.accountID
        // Streamed, so chosen once, without the fallback a short read has (`ReplicaReads`).
        let history = PaymentHistory(database: await payments.reads.server(for: accountID), logger: context.logger)
        let filter = query.filter
        let day = Formats.isoDay(Date())
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/csv; charset=utf-8",
                .contentDisposition: "attachment; filename=\"kassa-payments-\(day).csv\"",
                .cacheControl: "no-store",
            ],
            body: ResponseBody { writer in
                try await writer.write(ByteBuffer(string: CSV.line(Self.csvHeader)))
                try await history.each(accountID: accountID, filter: filter) { batch in
                    var text = ""
                    for payment in batch { text += CSV.line(Self.csvFields(payment)) }
                    try await writer.write(ByteBuffer(string: text))
                }
                try await writer.finish(nil)
            }
        )
    }

    static func csvFields(_ payment: Payment) -> [String] {
        [
            payment.id.rawValue, Formats.iso8601(payment.createdAt), payment.status.rawValue, payment.amount.decimalString,
            payment.amount.currency.code,
            Money(minorUnits: payment.amountRefunded, currency: payment.amount.currency).decimalString, payment.description,
            payment.email ?? "", payment.card?.brand.rawValue ?? "", payment.card?.last4 ?? "", payment.failureCode?.rawValue ?? "",
            payment.paymentLinkID?.rawValue ?? "", payment.paymentFormID?.rawValue ?? "",
            payment.customFields.map { "\($0.label): \($0.value)" }.joined(separator: "; "), payment.realm ?? "",
        ]
    }
}

// A row made by hand (`kassa render-bench`, tests) is its own key and view (`KeptRows`).
extension PaymentsController.PaymentRow: KeptRow {
    var key: Self { self }
    var view: Self { self }
}

// The history's and the dashboard's rows, looked up by name rather than reflected (see VolumeChart).
extension PaymentsController.PaymentRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": id
        case "date": date
        case "description": description
        case "amount": amount
        case "status": status
        case "statusClass": statusClass
        case "card": card
        case "email": email
        case "refunded": refunded
        default: nil
        }
    }
}

extension PaymentsController.ListView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "payments": payments
        case "hasPayments": hasPayments
        case "totals": totals
        case "hasTotals": hasTotals
        case "totalsAsOf": totalsAsOf
        case "statuses": statuses
        case "realms": realms
        case "hasRealms": hasRealms
        case "form": form
        case "errors": errors
        case "filtered": filtered
        case "nextURL": nextURL
        case "firstURL": firstURL
        case "csvURL": csvURL
        default: nil
        }
    }
}

extension PaymentsController.TotalRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "currency": currency
        case "net": net
        case "countLabel": countLabel
        case "refunded": refunded
        default: nil
        }
    }
}

extension PaymentsController.ShowView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "payment": payment
        case "currency": currency
        case "linkID": linkID
        case "linkName": linkName
        case "failure": failure
        case "holder": holder
        case "answers": MustacheBox.box(answers)
        case "formID": formID
        case "formName": formName
        case "realm": realm
        case "capturable": capturable
        case "voidsOn": voidsOn
        case "risk": risk
        case "events": events
        case "refunds": refunds
        case "hasRefunds": hasRefunds
        case "refundable": refundable
        case "showRefunds": showRefunds
        case "remaining": remaining
        case "form": form
        case "errors": errors
        case "confirm": confirm
        default: nil
        }
    }
}

extension PaymentsController.RefundConfirmation: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "question": question
        case "button": button
        case "amount": amount
        case "reason": reason
        default: nil
        }
    }
}

extension PaymentsController.EventRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "time": time
        case "datetime": datetime
        case "title": title
        case "detail": detail
        case "tone": tone
        default: nil
        }
    }
}

extension PaymentsController.RefundRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": id
        case "amount": amount
        case "reason": reason
        case "date": date
        default: nil
        }
    }
}

extension Optional {
    /// `map` for an async transform.
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
