import Foundation
import PostgresNIO

/// A payment as stored: what the history, the receipt and the API show.
public struct Payment: Sendable, Equatable, Identifiable {
    public let id: PaymentID
    public let accountID: AccountID
    public let status: PaymentStatus
    public let amount: Money
    public let amountRefunded: Int64
    public let description: String
    public let paymentLinkID: LinkID?
    public let issuerID: String?
    public let card: CardSummary?
    public let email: String?
    public let cardholderName: String?
    public let failureCode: DeclineCode?
    public let attemptID: String?
    public let paymentFormID: FormID?
    /// The payer's answers to a form's own fields, in the form's order.
    public let customFields: [FieldAnswer]
    /// The site it was made for, from its link, form or checkout session (`Realm`).
    public let realm: String?
    /// `manual`: approved payments wait at `authorized` for a capture.
    public let captureMethod: CaptureMethod
    /// What the issuer authorized, once a capture (possibly of less) made `amount` the captured amount.
    public let amountAuthorized: Int64?
    /// The risk score (0–100) its checkout got, and the rules that fired; nil before risk rules existed.
    public let riskScore: Int?
    public let riskRules: [String]
    public let createdAt: Date
    public let updatedAt: Date

    /// What may still be refunded.
    public var refundable: Int64 { status.isCaptured ? amount.minorUnits - amountRefunded : 0 }

    /// The columns `init(row:)` reads, in this order, first in every row it reads (a query may add
    /// its own after them): one list, so every query selects the same.
    enum Column: Int, CaseIterable {
        case id, accountID, status, amount, currency, amountRefunded, description, paymentLinkID, issuerID
        case cardBrand, cardLast4, cardExpMonth, cardExpYear, email, cardholderName, failureCode, attemptID
        case paymentFormID, customFields, realm, captureMethod, amountAuthorized, riskScore, riskRules, createdAt, updatedAt

        var sql: String {
            switch self {
            case .id: "id"
            case .accountID: "account_id"
            case .status: "status"
            case .amount: "amount"
            case .currency: "currency"
            case .amountRefunded: "amount_refunded"
            case .description: "description"
            case .paymentLinkID: "payment_link_id"
            case .issuerID: "issuer_id"
            case .cardBrand: "card_brand"
            case .cardLast4: "card_last4"
            case .cardExpMonth: "card_exp_month"
            case .cardExpYear: "card_exp_year"
            case .email: "email"
            case .cardholderName: "cardholder_name"
            case .failureCode: "failure_code"
            case .attemptID: "attempt_id"
            case .paymentFormID: "payment_form_id"
            case .customFields: "custom_fields::text AS custom_fields"
            case .realm: "realm"
            case .captureMethod: "capture_method"
            case .amountAuthorized: "amount_authorized"
            case .riskScore: "risk_score"
            case .riskRules: "risk_rules"
            case .createdAt: "created_at"
            case .updatedAt: "updated_at"
            }
        }
    }

    static let columns = Column.allCases.map(\.sql).joined(separator: ", ")
    /// How many columns `columns` names.
    static let columnCount = Column.allCases.count

    /// For code outside the core that reads payments (webhook payloads): the columns and the decoder.
    public static var selectColumns: String { columns }
    public static func decode(_ row: PostgresRow) throws -> Payment { try Payment(row: row) }

    /// Reads the cells by position (`Column`): by name, hashing 26 names per row was 40% of
    /// decoding a history page's payments. From a row its reader has already made random-access
    /// (making it copies every cell); from a `PostgresRow`, `init(row:)` (`HistoryRow`).
    init(cells row: PostgresRandomAccessRow) throws {
        // A query that selected something else first is a mistake in Kassa, told as one.
        guard row.count >= Column.allCases.count, row[Column.updatedAt.rawValue].columnName == "updated_at" else {
            throw ColumnsOutOfPlace(found: row.map(\.columnName), expected: Self.columns)
        }
        func cell(_ column: Column) -> PostgresCell { row[column.rawValue] }
        let currencyCode = try cell(.currency).decode(String.self)
        guard let currency = Currency(code: currencyCode) else { throw PaymentError.notFound }
        let statusText = try cell(.status).decode(String.self)
        guard let status = PaymentStatus(rawValue: statusText) else { throw PaymentError.notFound }
        self.id = try cell(.id).decode(PaymentID.self)
        self.accountID = try cell(.accountID).decode(AccountID.self)
        self.status = status
        self.amount = Money(minorUnits: try cell(.amount).decode(Int64.self), currency: currency)
        self.amountRefunded = try cell(.amountRefunded).decode(Int64.self)
        self.description = try cell(.description).decode(String.self)
        self.paymentLinkID = try cell(.paymentLinkID).decode(LinkID?.self)
        self.issuerID = try cell(.issuerID).decode(String?.self)
        if let brand = try cell(.cardBrand).decode(String?.self).flatMap(CardNetwork.init(rawValue:)),
            let last4 = try cell(.cardLast4).decode(String?.self)
        {
            self.card = CardSummary(
                brand: brand, last4: last4,
                expMonth: try cell(.cardExpMonth).decode(Int?.self) ?? 0,
                expYear: try cell(.cardExpYear).decode(Int?.self) ?? 0
            )
        } else {
            self.card = nil
        }
        self.email = try cell(.email).decode(String?.self)
        self.cardholderName = try cell(.cardholderName).decode(String?.self)
        self.failureCode = try cell(.failureCode).decode(String?.self).flatMap(DeclineCode.init(rawValue:))
        self.attemptID = try cell(.attemptID).decode(String?.self)
        self.paymentFormID = try cell(.paymentFormID).decode(FormID?.self)
        let answers = try cell(.customFields).decode(String.self)
        // Most payments have no answers; a JSONDecoder per row was a visible share of the history page.
        self.customFields = answers == "[]" ? [] : (try? JSONDecoder().decode([FieldAnswer].self, from: Data(answers.utf8))) ?? []
        self.realm = try cell(.realm).decode(String?.self)
        self.captureMethod = CaptureMethod(rawValue: try cell(.captureMethod).decode(String.self)) ?? .automatic
        self.amountAuthorized = try cell(.amountAuthorized).decode(Int64?.self)
        self.riskScore = try cell(.riskScore).decode(Int?.self)
        self.riskRules = try cell(.riskRules).decode([String].self)
        self.createdAt = try cell(.createdAt).decode(Date.self)
        self.updatedAt = try cell(.updatedAt).decode(Date.self)
    }
}

/// A row whose first columns are not those its reader reads (`Payment.columns`, `ListedPayment.columns`) in order.
struct ColumnsOutOfPlace: Error, CustomStringConvertible {
    let found: [String]
    let expected: String
    var description: String { "a payment row must start with \(expected); it had \(found.joined(separator: ", "))" }
}

/// One answer to a payment form's own field.
public struct FieldAnswer: Sendable, Equatable, Codable {
    public let label: String
    public let value: String

    public init(label: String, value: String) {
        self.label = label
        self.value = value
    }
}

/// The card as Kassa keeps it: no number, no security code.
public struct CardSummary: Sendable, Equatable {
    public let brand: CardNetwork
    public let last4: String
    public let expMonth: Int
    public let expYear: Int

    public init(brand: CardNetwork, last4: String, expMonth: Int, expYear: Int) {
        self.brand = brand
        self.last4 = last4
        self.expMonth = expMonth
        self.expYear = expYear
    }
}

public enum LinkStatus: String, Sendable, Equatable, CaseIterable {
    case active
    case revoked
    case expired
    /// Every use taken (a single-use link that was paid).
    case completed

    public var label: String {
        switch self {
        case .active: "Active"
        case .revoked: "Revoked"
        case .expired: "Expired"
        case .completed: "Completed"
        }
    }
}

/// A payment link's stored terms.
public struct PaymentLink: Sendable, Equatable, Identifiable {
    public let id: LinkID
    public let accountID: AccountID
    public let amount: Money
    public let description: String
    public let maxUses: Int
    public let uses: Int
    public let paymentMethodIDs: [MethodID]
    public let expiresAt: Date
    public let revokedAt: Date?
    public let createdAt: Date
    /// The site its payments are for (`Realm`), or nil.
    public let realm: String?
    public let captureMethod: CaptureMethod

    public func status(at now: Date) -> LinkStatus {
        if revokedAt != nil { return .revoked }
        if uses >= maxUses { return .completed }
        if expiresAt <= now { return .expired }
        return .active
    }

    static let columns =
        "id, account_id, amount, currency, description, max_uses, uses, payment_method_ids, expires_at, revoked_at, created_at, realm, capture_method"

    /// The same link with another use count.
    func withUses(_ uses: Int) -> PaymentLink {
        PaymentLink(
            id: id, accountID: accountID, amount: amount, description: description, maxUses: maxUses, uses: uses, paymentMethodIDs: paymentMethodIDs,
            expiresAt: expiresAt, revokedAt: revokedAt, createdAt: createdAt, realm: realm, captureMethod: captureMethod
        )
    }

    init(
        id: LinkID, accountID: AccountID, amount: Money, description: String, maxUses: Int, uses: Int, paymentMethodIDs: [MethodID], expiresAt: Date,
        revokedAt: Date?, createdAt: Date, realm: String? = nil, captureMethod: CaptureMethod = .automatic
    ) {
        self.captureMethod = captureMethod
        self.id = id
        self.accountID = accountID
        self.amount = amount
        self.description = description
        self.maxUses = maxUses
        self.uses = uses
        self.paymentMethodIDs = paymentMethodIDs
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.createdAt = createdAt
        self.realm = realm
    }

    init(row: PostgresRow) throws {
        let row = row.makeRandomAccess()
        guard let currency = Currency(code: try row["currency"].decode(String.self)) else { throw PaymentError.linkNotFound }
        self.id = try row["id"].decode(LinkID.self)
        self.accountID = try row["account_id"].decode(AccountID.self)
        self.amount = Money(minorUnits: try row["amount"].decode(Int64.self), currency: currency)
        self.description = try row["description"].decode(String.self)
        self.maxUses = try row["max_uses"].decode(Int.self)
        self.uses = try row["uses"].decode(Int.self)
        self.paymentMethodIDs = try row["payment_method_ids"].decode([MethodID].self)
        self.expiresAt = try row["expires_at"].decode(Date.self)
        self.revokedAt = try row["revoked_at"].decode(Date?.self)
        self.createdAt = try row["created_at"].decode(Date.self)
        self.realm = try row["realm"].decode(String?.self)
        self.captureMethod = CaptureMethod(rawValue: try row["capture_method"].decode(String.self)) ?? .automatic
    }
}

/// Whether an approved payment takes the money at once (`automatic`) or waits at `authorized`
/// for the merchant to capture it (`manual`), as Stripe's `capture_method`.
public enum CaptureMethod: String, Sendable, Equatable, CaseIterable {
    case automatic, manual
}

/// An issuer a merchant accepts, in some of its currencies.
public struct PaymentMethod: Sendable, Equatable, Identifiable {
    public let id: MethodID
    public let accountID: AccountID
    public let issuerID: String
    public let currencies: [Currency]
    public let createdAt: Date

    public func accepts(_ currency: Currency) -> Bool { currencies.contains(currency) }
}

/// Where a refund stands. The simulated issuers answer a refund in the same transaction that records
/// it, so a refund is stored only once it has succeeded (the `refunds.status` CHECK allows only
/// that); an issuer that answers later would add `pending` and `failed` here and in the CHECK, and
/// every switch over it would then fail to compile until it handles them.
public enum RefundStatus: String, Sendable, Equatable, CaseIterable {
    case succeeded
}

public struct Refund: Sendable, Equatable, Identifiable {
    public let id: String
    public let paymentID: PaymentID
    public let amount: Money
    public let reason: String?
    public let status: RefundStatus
    public let createdAt: Date
}

/// One row of a payment's transaction log.
public struct PaymentEvent: Sendable, Equatable, Identifiable {
    public let id: String
    public let paymentID: PaymentID
    public let type: EventType
    /// The event's data as stored (JSON text).
    public let data: String
    public let createdAt: Date
}

/// A row of the account's transaction log, about a payment or a link.
public struct AccountEvent: Sendable, Equatable, Identifiable {
    public let id: String
    public let type: EventType
    public let paymentID: PaymentID?
    public let paymentLinkID: LinkID?
    /// The event's data as stored (JSON text).
    public let data: String
    public let createdAt: Date
}

/// A realm: the site a link, a form or a checkout session sells on (seed 004's "to allow payments to
/// be grouped (site name)"), usually its host name. 1 to 64 ASCII letters, digits, `.`, `-` or `_`;
/// the database checks the same.
public enum Realm {
    public static func problem(_ text: String) -> String? {
        isValid(text) ? nil : "Use 1 to 64 letters, digits, dots, dashes or underscores for the realm, like shop.example.com."
    }

    public static func isValid(_ text: String) -> Bool { ASCIIToken.isValid(text, length: 1...64) }
}

/// Text of ASCII letters, digits, `.`, `_` and `-` only, of a length in bytes: realms, the seed's
/// usernames, request ids.
public enum ASCIIToken {
    public static func isValid(_ text: String, length: ClosedRange<Int>) -> Bool {
        length.contains(text.utf8.count)
            && text.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2E || byte == 0x5F
                    || byte == 0x2D
            }
    }
}
