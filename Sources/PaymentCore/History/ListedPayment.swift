import Foundation
import PostgresNIO

/// What a page of the history is made of: whole payments (`Payment`: the API's list, the CSV
/// export) or payments as the merchant's lists show them (`ListedPayment`: the history page, the
/// dashboard, a link's and a form's payments). The history's statements select `columns` and
/// decode with `init(cells:)`, so each reads only what its caller uses.
protocol HistoryRow: Sendable {
    /// The columns `init(cells:)` reads, in its order, first in every row it reads (a statement
    /// may add its own after them).
    static var columns: String { get }
    static var columnCount: Int { get }
    /// The type as `String(reflecting:)` names it: prepared statements generic over the row are
    /// named after their type (`StatementNameTests`) without reflecting on every execution.
    static var typeName: String { get }
    init(cells: PostgresRandomAccessRow) throws
    var id: PaymentID { get }
}

extension HistoryRow {
    /// The row's cells made random-access once, then read by position.
    init(row: PostgresRow) throws { try self.init(cells: row.makeRandomAccess()) }
}

extension Payment: HistoryRow {
    static let typeName = "PaymentCore.Payment"
}

/// A payment as a list row shows it: ten of a payment's twenty-six columns. The history page's
/// whole payments cost PostgreSQL 1.7–1.9 × as much per page as these (`pgbench` replaying the
/// page's statement, 2026-12-03: the text array of risk rules and the form's answers as text were
/// most of it) and Kassa a decoding of 26 cells per row it then did not show.
public struct ListedPayment: Sendable, Hashable, Identifiable, HistoryRow {
    public let id: PaymentID
    public let status: PaymentStatus
    public let amount: Money
    public let amountRefunded: Int64
    public let description: String
    /// The card's network and last four digits, when a card was tried.
    public let cardBrand: CardNetwork?
    public let cardLast4: String?
    public let email: String?
    public let createdAt: Date

    public init(
        id: PaymentID, status: PaymentStatus, amount: Money, amountRefunded: Int64, description: String, cardBrand: CardNetwork?,
        cardLast4: String?, email: String?, createdAt: Date
    ) {
        self.id = id
        self.status = status
        self.amount = amount
        self.amountRefunded = amountRefunded
        self.description = description
        self.cardBrand = cardBrand
        self.cardLast4 = cardLast4
        self.email = email
        self.createdAt = createdAt
    }

    /// The same payment, as its list row shows it.
    public init(_ payment: Payment) {
        self.init(
            id: payment.id, status: payment.status, amount: payment.amount, amountRefunded: payment.amountRefunded,
            description: payment.description, cardBrand: payment.card?.brand, cardLast4: payment.card?.last4, email: payment.email,
            createdAt: payment.createdAt)
    }

    /// The columns, in `init(cells:)`'s order, as `Payment.Column` names them.
    private enum Column: Int, CaseIterable {
        case id, status, amount, currency, amountRefunded, description, cardBrand, cardLast4, email, createdAt

        /// The payment's column of the same name (`Payment.Column` spells its SQL).
        var sql: String { Payment.Column.allCases.first { "\($0)" == "\(self)" }!.sql }
    }

    static let columns = Column.allCases.map(\.sql).joined(separator: ", ")
    static let columnCount = Column.allCases.count
    static let typeName = "PaymentCore.ListedPayment"

    init(cells row: PostgresRandomAccessRow) throws {
        guard row.count >= Column.allCases.count, row[Column.createdAt.rawValue].columnName == "created_at" else {
            throw ColumnsOutOfPlace(found: row.map(\.columnName), expected: Self.columns)
        }
        func cell(_ column: Column) -> PostgresCell { row[column.rawValue] }
        guard let currency = Currency(code: try cell(.currency).decode(String.self)),
            let status = PaymentStatus(rawValue: try cell(.status).decode(String.self))
        else { throw PaymentError.notFound }
        self.id = try cell(.id).decode(PaymentID.self)
        self.status = status
        self.amount = Money(minorUnits: try cell(.amount).decode(Int64.self), currency: currency)
        self.amountRefunded = try cell(.amountRefunded).decode(Int64.self)
        self.description = try cell(.description).decode(String.self)
        self.cardBrand = try cell(.cardBrand).decode(String?.self).flatMap(CardNetwork.init(rawValue:))
        self.cardLast4 = try cell(.cardLast4).decode(String?.self)
        self.email = try cell(.email).decode(String?.self)
        self.createdAt = try cell(.createdAt).decode(Date.self)
    }
}
