import Foundation
import Logging
import PostgresNIO

/// A field a business adds to its payment form.
public struct FormField: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case text, email, number, select
    }

    /// Stable name of the input (`f1`, `f2`, …).
    public let key: String
    public let label: String
    public let kind: Kind
    public let required: Bool
    /// The choices of a `select`.
    public let options: [String]

    public init(key: String, label: String, kind: Kind, required: Bool, options: [String] = []) {
        self.key = key
        self.label = label
        self.kind = kind
        self.required = required
        self.options = options
    }
}

/// A business payment form, embedded on the merchant's site or opened as a plain link.
public struct PaymentForm: Sendable, Equatable, Identifiable {
    public let id: FormID
    public let accountID: AccountID
    public let title: String
    public let description: String
    public let currency: Currency
    /// Fixed amount, or nil when the payer chooses between `minimum` and `maximum`.
    public let amount: Int64?
    public let minimum: Int64?
    public let maximum: Int64?
    public let fields: [FormField]
    public let allowedOrigins: [String]
    public let redirectURL: String?
    public let buttonLabel: String
    public let brandColor: String
    /// Payments only through a signed checkout session (`POST /v1/checkout_sessions`): the
    /// amount the merchant's own page set cannot be left out by opening the form bare.
    public let requiresSession: Bool
    public let maxUses: Int?
    public private(set) var uses: Int
    public let expiresAt: Date?
    public let archivedAt: Date?
    public let createdAt: Date
    /// The site its payments are for (`Realm`), unless a checkout session names another.
    public let realm: String?
    public let captureMethod: CaptureMethod

    public func isOpen(at now: Date) -> Bool {
        archivedAt == nil && (expiresAt.map { $0 > now } ?? true) && (maxUses.map { uses < $0 } ?? true)
    }

    static let columns = """
        id, account_id, title, description, currency, amount, min_amount, max_amount, fields::text AS fields, allowed_origins,
        redirect_url, button_label, brand_color, requires_session, max_uses, uses, expires_at, archived_at, created_at, realm, capture_method
        """

    /// The same form with another use count.
    func withUses(_ uses: Int) -> PaymentForm {
        var copy = self
        copy.uses = uses
        return copy
    }

    init(row: PostgresRow) throws {
        let row = row.makeRandomAccess()
        guard let currency = Currency(code: try row["currency"].decode(String.self)) else { throw PaymentError.notFound }
        self.id = try row["id"].decode(FormID.self)
        self.accountID = try row["account_id"].decode(AccountID.self)
        self.title = try row["title"].decode(String.self)
        self.description = try row["description"].decode(String.self)
        self.currency = currency
        self.amount = try row["amount"].decode(Int64?.self)
        self.minimum = try row["min_amount"].decode(Int64?.self)
        self.maximum = try row["max_amount"].decode(Int64?.self)
        self.fields = (try? JSONDecoder().decode([FormField].self, from: Data(try row["fields"].decode(String.self).utf8))) ?? []
        self.allowedOrigins = try row["allowed_origins"].decode([String].self)
        self.redirectURL = try row["redirect_url"].decode(String?.self)
        self.buttonLabel = try row["button_label"].decode(String.self)
        self.brandColor = try row["brand_color"].decode(String.self)
        self.requiresSession = try row["requires_session"].decode(Bool.self)
        self.maxUses = try row["max_uses"].decode(Int?.self)
        self.uses = try row["uses"].decode(Int.self)
        self.expiresAt = try row["expires_at"].decode(Date?.self)
        self.archivedAt = try row["archived_at"].decode(Date?.self)
        self.createdAt = try row["created_at"].decode(Date.self)
        self.realm = try row["realm"].decode(String?.self)
        self.captureMethod = CaptureMethod(rawValue: try row["capture_method"].decode(String.self)) ?? .automatic
    }
}

/// Payment forms as stored, and the rules of a form (`problems`). Reading the editor's text
/// (amounts as typed, origins, colours) stays in App; the database holds the invariants (amount or
/// range, uses within max).
public struct PaymentForms: Sendable {
    let database: PostgresClient
    let methods: PaymentMethods
    let cache: CheckoutCache
    let logger: Logger
    let maximumAmount: Int64

    /// Every rule a form must keep, checked here and nowhere else. Field names as the editor names
    /// them; `accepted` are the currencies the account's methods take.
    public static func problems(_ draft: Draft, accepted: Set<Currency>, maximumAmount: Int64) -> [FieldProblem] {
        var problems: [FieldProblem] = []
        func add(_ field: String, _ message: String, code: String? = nil) {
            problems.append(FieldProblem(field: field, message: message, code: code))
        }
        let title = draft.title.trimmingCharacters(in: .whitespacesAndNewlines)
        if title.isEmpty {
            add("title", "Give the form a title; payers see it.")
        } else if draft.title.length > 100 {
            add("title", "Use at most 100 characters for the title.")
        }
        if draft.description.length > 500 { add("description", "Use at most 500 characters for the description.") }
        if !accepted.contains(draft.currency) {
            add("currency", "None of your payment methods accepts \(draft.currency.code).", code: "no_payment_method_for_currency")
        }
        let largest = Money(minorUnits: maximumAmount, currency: draft.currency).formatted
        func inRange(_ value: Int64?, _ field: String) {
            if let value, value <= 0 || value > maximumAmount { add(field, "Enter an amount greater than zero and at most \(largest).") }
        }
        switch (draft.amount, draft.minimum, draft.maximum) {
        case (.some(let amount), nil, nil): inRange(amount, "amount")
        case (nil, .some(let minimum), .some(let maximum)):
            inRange(minimum, "min_amount")
            inRange(maximum, "max_amount")
            if maximum < minimum { add("max_amount", "The largest amount must not be below the smallest.") }
        default: add("amount", "Set either a fixed amount or the smallest and largest amounts payers may choose.")
        }
        for (n, field) in draft.fields.enumerated() {
            if field.label.isEmpty || field.label.length > 60 {
                add("fields", "Field \(n + 1): use a label of 1 to 60 characters.")
            } else if field.kind == .select && field.options.isEmpty {
                add("fields", "Field \(n + 1): list the choices of a select, separated by commas.")
            }
        }
        if draft.allowedOrigins.count > 20 { add("allowed_origins", "List at most 20 origins.") }
        if let redirect = draft.redirectURL, redirect.length > 500 {
            add("redirect_url", "Use an address of at most 500 characters.")
        }
        let button = draft.buttonLabel.trimmingCharacters(in: .whitespaces)
        if button.isEmpty || draft.buttonLabel.length > 40 { add("button_label", "Use a button label of 1 to 40 characters.") }
        if let uses = draft.maxUses, !(1...1_000_000).contains(uses) {
            add("max_uses", "Enter a whole number from 1 to 1,000,000, or leave it empty.")
        }
        if let realm = draft.realm, let problem = Realm.problem(realm) { add("realm", problem, code: "realm_invalid") }
        return problems
    }

    private func check(accountID: AccountID, _ draft: Draft) async throws {
        let accepted = Set(try await methods.acceptedCurrencies(accountID: accountID))
        let problems = Self.problems(draft, accepted: accepted, maximumAmount: maximumAmount)
        guard problems.isEmpty else { throw FieldProblems(problems) }
    }

    public struct Draft: Sendable {
        public var title: String
        public var description: String
        public var currency: Currency
        public var amount: Int64?
        public var minimum: Int64?
        public var maximum: Int64?
        public var fields: [FormField]
        public var allowedOrigins: [String]
        public var redirectURL: String?
        public var buttonLabel: String
        public var brandColor: String
        public var requiresSession: Bool
        public var maxUses: Int?
        public var expiresAt: Date?
        public var realm: String?
        public var captureMethod: CaptureMethod

        public init(
            title: String, description: String, currency: Currency, amount: Int64?, minimum: Int64?, maximum: Int64?, fields: [FormField],
            allowedOrigins: [String], redirectURL: String?, buttonLabel: String, brandColor: String, requiresSession: Bool = false, maxUses: Int?,
            expiresAt: Date?, realm: String? = nil, captureMethod: CaptureMethod = .automatic
        ) {
            self.captureMethod = captureMethod
            self.title = title
            self.description = description
            self.currency = currency
            self.amount = amount
            self.minimum = minimum
            self.maximum = maximum
            self.fields = fields
            self.allowedOrigins = allowedOrigins
            self.redirectURL = redirectURL
            self.buttonLabel = buttonLabel
            self.brandColor = brandColor
            self.requiresSession = requiresSession
            self.maxUses = maxUses
            self.expiresAt = expiresAt
            self.realm = realm
        }
    }

    /// Creates the form, or throws `FieldProblems` naming every rule it breaks (nothing written).
    public func create(accountID: AccountID, _ draft: Draft) async throws -> PaymentForm {
        try await check(accountID: accountID, draft)
        let fields = String(decoding: try JSONEncoder().encode(draft.fields), as: UTF8.self)
        return try await one(
            """
            INSERT INTO payment_forms (account_id, id, title, description, currency, amount, min_amount, max_amount, fields, allowed_origins,
                                       redirect_url, button_label, brand_color, requires_session, max_uses, expires_at, realm,
                                       capture_method)
            VALUES (\(accountID), \(FormID.make()), \(draft.title), \(draft.description), \(draft.currency.code), \(draft.amount),
                    \(draft.minimum), \(draft.maximum), \(fields)::jsonb, \(draft.allowedOrigins), \(draft.redirectURL), \(draft.buttonLabel),
                    \(draft.brandColor), \(draft.requiresSession), \(draft.maxUses), \(draft.expiresAt), \(draft.realm),
                    \(draft.captureMethod.rawValue))
            RETURNING \(unescaped: PaymentForm.columns)
            """
        )
    }

    public func update(accountID: AccountID, id: FormID, _ draft: Draft) async throws -> PaymentForm {
        try await check(accountID: accountID, draft)
        let fields = String(decoding: try JSONEncoder().encode(draft.fields), as: UTF8.self)
        defer { cache.forget(form: id) }
        return try await one(
            """
            UPDATE payment_forms SET title = \(draft.title), description = \(draft.description), currency = \(draft.currency.code),
                amount = \(draft.amount), min_amount = \(draft.minimum), max_amount = \(draft.maximum), fields = \(fields)::jsonb,
                allowed_origins = \(draft.allowedOrigins), redirect_url = \(draft.redirectURL), button_label = \(draft.buttonLabel),
                brand_color = \(draft.brandColor), requires_session = \(draft.requiresSession), max_uses = \(draft.maxUses),
                expires_at = \(draft.expiresAt), realm = \(draft.realm), capture_method = \(draft.captureMethod.rawValue)
            WHERE account_id = \(accountID) AND id = \(id)
            RETURNING \(unescaped: PaymentForm.columns)
            """
        )
    }

    public func archive(accountID: AccountID, id: FormID) async throws -> PaymentForm {
        defer { cache.forget(form: id) }
        return try await one(
            """
            UPDATE payment_forms SET archived_at = coalesce(archived_at, now()) WHERE account_id = \(accountID) AND id = \(id)
            RETURNING \(unescaped: PaymentForm.columns)
            """
        )
    }

    public func find(id: FormID) async throws -> PaymentForm? {
        try await fetch("SELECT \(unescaped: PaymentForm.columns) FROM payment_forms WHERE id = \(id)").first
    }

    /// A form for the payer's pages: a copy at most the cache's TTL old unless `fresh` (the start
    /// batch re-checks it under lock, and a payer is refused only on a fresh read).
    public func find(id: FormID, fresh: Bool) async throws -> PaymentForm? {
        if fresh { cache.forget(form: id) }
        return try await cache.form(id) { try await find(id: id) }
    }

    public func find(accountID: AccountID, id: FormID) async throws -> PaymentForm? {
        try await fetch("SELECT \(unescaped: PaymentForm.columns) FROM payment_forms WHERE account_id = \(accountID) AND id = \(id)").first
    }

    public func list(accountID: AccountID) async throws -> [PaymentForm] {
        try await fetch(
            "SELECT \(unescaped: PaymentForm.columns) FROM payment_forms WHERE account_id = \(accountID) ORDER BY archived_at NULLS FIRST, created_at DESC, id DESC LIMIT 200"
        )
    }

    private func one(_ query: PostgresQuery) async throws -> PaymentForm {
        guard let form = try await fetch(query).first else { throw PaymentError.notFound }
        return form
    }

    private func fetch(_ query: PostgresQuery) async throws -> [PaymentForm] {
        let rows = try await database.query(query, logger: logger)
        var forms: [PaymentForm] = []
        for try await row in rows { forms.append(try PaymentForm(row: row)) }
        return forms
    }
}
