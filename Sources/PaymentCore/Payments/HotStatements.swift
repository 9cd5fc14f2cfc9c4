import Foundation
import PostgresNIO

// The statements every checkout runs, as prepared statements: PostgresNIO prepares each once per
// pooled connection and PostgreSQL then skips parsing, analysing and (after a few runs) planning
// it. Run as unnamed statements, those steps cost PostgreSQL about as much CPU as executing them
// (a checkout's SQL alone, replayed by pgbench: roughly half the throughput; see BENCHMARKS.md).
//
// Each parameter's type is declared (`bindingDataTypes`), matching what `makeBindings` appends:
// PostgresNIO sends binary values, which PostgreSQL must not read as a type it guessed itself.
// Each statement names itself (`static let name`, its module and type, the name PostgresNIO's default
// gives it): that default builds the name from the type on every execution.

/// The first row of a statement's answer, reading it to its end (so the connection is free again).
public func firstRow<Rows: AsyncSequence>(_ rows: Rows) async throws -> Rows.Element? {
    var found: Rows.Element?
    for try await row in rows where found == nil { found = row }
    return found
}

/// Every row of a statement's answer, in order.
public func allRows<Rows: AsyncSequence>(_ rows: Rows) async throws -> [Rows.Element] {
    var all: [Rows.Element] = []
    for try await row in rows { all.append(row) }
    return all
}

extension PaymentMethod {
    /// A method as its row stores it: currency codes become currencies, in order.
    init(id: MethodID, accountID: AccountID, issuerID: String, codes: [String], createdAt: Date) {
        self.init(id: id, accountID: accountID, issuerID: issuerID, currencies: codes.compactMap(Currency.init(code:)).sorted(), createdAt: createdAt)
    }
}

/// A statement with one text parameter ($1): an account or a row's id.
public protocol KeyedStatement: PostgresPreparedStatement {
    associatedtype Key: PostgresNonThrowingEncodable & Sendable
    var key: Key { get }
}

extension KeyedStatement {
    public static var bindingDataTypes: [PostgresDataType] { [.text] }

    public func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(key)
        return bindings
    }
}

/// A statement with two text parameters: the merchant's account ($1) and one key of its rows ($2).
protocol AccountKeyedStatement: PostgresPreparedStatement {
    var accountID: AccountID { get }
    var key: String { get }
}

extension AccountKeyedStatement {
    static var bindingDataTypes: [PostgresDataType] { [.text, .text] }

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(accountID)
        bindings.append(key)
        return bindings
    }
}

/// The payment a checkout page's attempt token already made, if any.
struct PaymentByAttemptToken: AccountKeyedStatement {
    static let name = "PaymentCore.PaymentByAttemptToken"
    static let sql = "SELECT \(Payment.columns) FROM payments WHERE account_id = $1 AND attempt_token = $2"
    var accountID: AccountID
    var key: String

    func decodeRow(_ row: PostgresRow) throws -> Payment { try Payment(row: row) }
}

/// A link by its id (links are found by id alone from their signed URL).
struct LinkByID: KeyedStatement {
    static let name = "PaymentCore.LinkByID"
    static let sql = "SELECT \(PaymentLink.columns) FROM payment_links WHERE id = $1"
    var key: LinkID

    func decodeRow(_ row: PostgresRow) throws -> PaymentLink { try PaymentLink(row: row) }
}

/// The merchant's payment methods, oldest first (every checkout routes the card through them).
struct MethodsOfAccount: KeyedStatement {
    static let name = "PaymentCore.MethodsOfAccount"
    static let sql = "SELECT id, account_id, issuer_id, currencies, created_at FROM payment_methods WHERE account_id = $1 ORDER BY created_at, id"
    var key: AccountID

    func decodeRow(_ row: PostgresRow) throws -> PaymentMethod {
        let (id, account, issuer, codes, created) = try row.decode((MethodID, AccountID, String, [String], Date).self)
        return PaymentMethod(id: id, accountID: account, issuerID: issuer, codes: codes, createdAt: created)
    }
}
