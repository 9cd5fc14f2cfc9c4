import Foundation
import PostgresNIO

// The statements every checkout runs, as prepared statements: PostgresNIO prepares each once per
// pooled connection and PostgreSQL then skips parsing, analysing and (after a few runs) planning
// it. Run as unnamed statements, those steps cost PostgreSQL about as much CPU as executing them
// (a checkout's SQL alone, replayed by pgbench: roughly half the throughput; see BENCHMARKS.md).
//
// Each parameter's type is declared (`bindingDataTypes`), matching what `makeBindings` appends:
// PostgresNIO sends binary values, which PostgreSQL must not read as a type it guessed itself.

/// The first row of a statement's answer, reading it to its end (so the connection is free again).
func firstRow<Rows: AsyncSequence>(_ rows: Rows) async throws -> Rows.Element? {
    var found: Rows.Element?
    for try await row in rows where found == nil { found = row }
    return found
}

extension PaymentMethod {
    /// A method as its row stores it: currency codes become currencies, in order.
    init(id: String, accountID: String, issuerID: String, codes: [String], createdAt: Date) {
        self.init(id: id, accountID: accountID, issuerID: issuerID, currencies: codes.compactMap(Currency.init(code:)).sorted(), createdAt: createdAt)
    }
}

/// A checkout's payment, born `processing`, with its `payment.created` and `payment.processing`
/// events (in that order), in one statement.
struct InsertProcessingPayment: PostgresPreparedStatement {
    static let sql = """
        WITH created AS (
            INSERT INTO payments (account_id, id, status, amount, currency, description, payment_link_id, single_use_link_id, attempt_token, email,
                                  payment_form_id, custom_fields, attempt_id, issuer_id, payment_method_id, card_brand, card_last4,
                                  card_exp_month, card_exp_year, card_fingerprint, cardholder_name, processing_started_at)
            VALUES ($1, $2, 'processing', $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14, $15, $16, $17, $18, $19, $20, now())
            RETURNING *
        ), events AS (
            INSERT INTO payment_events (account_id, id, payment_id, type, data)
            SELECT created.account_id, e.id, created.id, e.type, e.data::jsonb
            FROM created, (VALUES (1, $21, 'payment.created', $22), (2, $23, 'payment.processing', $24)) AS e (n, id, type, data)
            ORDER BY e.n
        )
        SELECT \(Payment.columns) FROM created
        """
    static let bindingDataTypes: [PostgresDataType] =
        [.text, .text, .int8, .text, .text, .text, .text, .text, .text, .text, .text, .text, .text, .text, .text, .text, .int8, .int8, .text, .text]
        + [.text, .text, .text, .text]

    var accountID: String
    var id: String
    var amount: Money
    var description: String
    var linkID: String?
    var singleUseLinkID: String?
    var attemptToken: String
    var email: String?
    var formID: String?
    var answersJSON: String
    var attemptID: String
    var issuerID: String
    var methodID: String
    var card: CardDetails
    var fingerprint: String
    var createdEvent: (id: String, json: String)
    var processingEvent: (id: String, json: String)

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 24)
        for text in [accountID, id] { bindings.append(text) }
        bindings.append(amount.minorUnits)
        for text in [amount.currency.code, description] { bindings.append(text) }
        for text in [linkID, singleUseLinkID] { bindings.append(text) }
        bindings.append(attemptToken)
        for text in [email, formID] { bindings.append(text) }
        for text in [answersJSON, attemptID, issuerID, methodID, card.network.rawValue, card.last4] { bindings.append(text) }
        bindings.append(Int64(card.expMonth))
        bindings.append(Int64(card.expYear))
        for text in [fingerprint, card.holderName, createdEvent.id, createdEvent.json, processingEvent.id, processingEvent.json] {
            bindings.append(text)
        }
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Payment { try Payment(row: row) }
}

/// A statement with one text parameter ($1): an account or a row's id.
protocol KeyedStatement: PostgresPreparedStatement {
    var key: String { get }
}

extension KeyedStatement {
    static var bindingDataTypes: [PostgresDataType] { [.text] }

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(key)
        return bindings
    }
}

/// A statement with two text parameters: the merchant's account ($1) and one key of its rows ($2).
protocol AccountKeyedStatement: PostgresPreparedStatement {
    var accountID: String { get }
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

/// Reserves one use of an open link; no row when it is revoked, expired or used up.
struct ReserveLinkUse: AccountKeyedStatement {
    static let sql = """
        UPDATE payment_links SET uses = uses + 1
        WHERE account_id = $1 AND id = $2 AND revoked_at IS NULL AND expires_at > now() AND uses < max_uses
        RETURNING max_uses
        """
    var accountID: String
    var key: String

    func decodeRow(_ row: PostgresRow) throws -> Int { try row.decode(Int.self) }
}

/// `processing` → `succeeded`; no row unless the payment was `processing`.
struct MarkSucceeded: AccountKeyedStatement {
    static let sql = """
        UPDATE payments SET status = 'succeeded'
        WHERE account_id = $1 AND id = $2 AND status = 'processing'
        RETURNING \(Payment.columns)
        """
    var accountID: String
    var key: String

    func decodeRow(_ row: PostgresRow) throws -> Payment { try Payment(row: row) }
}

/// An event that moves money: the event row, its balanced posting (the event id is the posting
/// id) and the outbox rows for the notification and webhook workers, in one statement.
struct RecordPosting: PostgresPreparedStatement {
    static let sql = """
        WITH event AS (
            INSERT INTO payment_events (account_id, id, payment_id, type, data) VALUES ($1, $2, $3, $4, $5::jsonb)
        ), posting AS (
            INSERT INTO ledger_entries (account_id, posting_id, payment_id, refund_id, ledger_account, currency, amount) VALUES
                ($1, $2, $3, $6, $7, $9, -$10), ($1, $2, $3, $6, $8, $9, $10)
        )
        INSERT INTO outbox (account_id, topic, event_id, event_type) VALUES ($1, 'notification', $2, $4), ($1, 'webhook', $2, $4)
        """
    static let bindingDataTypes: [PostgresDataType] = [.text, .text, .text, .text, .text, .text, .text, .text, .text, .int8]

    var accountID: String
    var eventID: String
    var paymentID: String
    var type: String
    var json: String
    var refundID: String?
    var from: String
    var to: String
    var currency: String
    var amount: Int64

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 10)
        for text in [accountID, eventID, paymentID, type, json] { bindings.append(text) }
        bindings.append(refundID)
        for text in [from, to, currency] { bindings.append(text) }
        bindings.append(amount)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

/// The payment a checkout page's attempt token already made, if any.
struct PaymentByAttemptToken: AccountKeyedStatement {
    static let sql = "SELECT \(Payment.columns) FROM payments WHERE account_id = $1 AND attempt_token = $2"
    var accountID: String
    var key: String

    func decodeRow(_ row: PostgresRow) throws -> Payment { try Payment(row: row) }
}

/// A link by its id (links are found by id alone from their signed URL).
struct LinkByID: KeyedStatement {
    static let sql = "SELECT \(PaymentLink.columns) FROM payment_links WHERE id = $1"
    var key: String

    func decodeRow(_ row: PostgresRow) throws -> PaymentLink { try PaymentLink(row: row) }
}

/// The merchant's payment methods, oldest first (every checkout routes the card through them).
struct MethodsOfAccount: KeyedStatement {
    static let sql = "SELECT id, account_id, issuer_id, currencies, created_at FROM payment_methods WHERE account_id = $1 ORDER BY created_at, id"
    var key: String

    func decodeRow(_ row: PostgresRow) throws -> PaymentMethod {
        let (id, account, issuer, codes, created) = try row.decode((String, String, String, [String], Date).self)
        return PaymentMethod(id: id, accountID: account, issuerID: issuer, codes: codes, createdAt: created)
    }
}

/// The simulated issuer's decision for an attempt, written unless one exists (then no row).
struct RecordSimulatorDecision: PostgresPreparedStatement {
    static let sql = """
        INSERT INTO simulator_authorizations (attempt_id, issuer_id, outcome, decline_code, authorization_code, amount, currency)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (attempt_id) DO NOTHING
        RETURNING outcome, decline_code, authorization_code
        """
    static let bindingDataTypes: [PostgresDataType] = [.text, .text, .text, .text, .text, .int8, .text]

    var attemptID: String
    var issuerID: String
    var outcome: String
    var declineCode: String?
    var authorizationCode: String?
    var amount: Int64?
    var currency: String?

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 7)
        for text in [attemptID, issuerID, outcome] { bindings.append(text) }
        for text in [declineCode, authorizationCode] { bindings.append(text) }
        bindings.append(amount)
        bindings.append(currency)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> (String, String?, String?) { try row.decode((String, String?, String?).self) }
}

/// What a checkout page shows of its merchant: the name, and its payment methods (one row each;
/// one row with no method when it has none), oldest first.
struct MerchantWithMethods: KeyedStatement {
    static let sql = """
        SELECT a.name, m.id, m.issuer_id, m.currencies, m.created_at
        FROM accounts a LEFT JOIN payment_methods m ON m.account_id = a.id
        WHERE a.id = $1 ORDER BY m.created_at, m.id
        """
    var key: String

    func decodeRow(_ row: PostgresRow) throws -> (name: String, method: PaymentMethod?) {
        let (name, id, issuer, codes, created) = try row.decode((String, String?, String?, [String]?, Date?).self)
        guard let id, let issuer, let codes, let created else { return (name, nil) }
        return (name, PaymentMethod(id: id, accountID: key, issuerID: issuer, codes: codes, createdAt: created))
    }
}
