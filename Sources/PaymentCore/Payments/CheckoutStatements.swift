import PostgresNIO

// The checkout's batched statements: each calls one set-based function of migration 0010 (or is one
// data-modifying statement) over arrays bound from Swift, so the SQL text is the same whatever the
// batch size and PostgreSQL prepares and plans it once per connection. Parameter types are
// declared: PostgresNIO sends the arrays in binary.

/// One submit as the start batch takes it (`checkout_start`). Absent values are empty strings: the
/// arrays cannot carry NULLs.
struct StartItem: Sendable {
    var accountID: AccountID
    var linkID: String
    var formID: String
    var paymentID: PaymentID
    var amount: Int64
    var currency: String
    var description: String
    var attemptToken: String
    var email: String
    var answersJSON: String
    var attemptID: String
    var issuerID: String
    var methodID: MethodID
    var brand: String
    var last4: String
    var expMonth: Int32
    var expYear: Int32
    var fingerprint: String
    var holder: String
    var createdEventID: String
    var createdData: String
    var processingEventID: String
    var processingData: String
    /// The site the payment was made for (`realm`), or empty.
    var realm: String = ""
    /// The risk score and the rules that fired, comma-separated.
    var riskScore: Int32 = 0
    var riskRules: String = ""
}

/// What the start batch did with one item (`checkout_start` describes each).
enum StartOutcome: String, Sendable, Equatable {
    case started, replay, revoked, expired, closed, stale, conflict
    case notFound = "not_found"
    case usedUp = "used_up"
}

struct StartRow: Sendable, Equatable {
    let outcome: StartOutcome
    let paymentID: PaymentID?
}

/// A row the database answered that this code does not know (the function and the code disagree).
struct UnexpectedRow: Error, CustomStringConvertible {
    let value: String
    var description: String { "unexpected batch outcome \(value)" }
}

struct StartBatch: PostgresPreparedStatement {
    static let name = "PaymentCore.StartBatch"
    static let sql = """
        SELECT item, outcome, payment FROM checkout_start($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)
        """
    static let bindingDataTypes: [PostgresDataType] =
        [.textArray, .textArray, .textArray, .textArray, .int8Array, .textArray, .textArray, .textArray, .textArray, .textArray, .textArray]
        + [.textArray, .textArray, .textArray, .textArray, .int4Array, .int4Array, .textArray, .textArray, .textArray, .textArray, .textArray]
        + [.textArray, .textArray, .int4Array, .textArray]

    let items: [StartItem]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 26)
        bindings.append(items.map(\.accountID))
        bindings.append(items.map(\.linkID))
        bindings.append(items.map(\.formID))
        bindings.append(items.map(\.paymentID))
        bindings.append(items.map(\.amount))
        bindings.append(items.map(\.currency))
        bindings.append(items.map(\.description))
        bindings.append(items.map(\.attemptToken))
        bindings.append(items.map(\.email))
        bindings.append(items.map(\.answersJSON))
        bindings.append(items.map(\.attemptID))
        bindings.append(items.map(\.issuerID))
        bindings.append(items.map(\.methodID))
        bindings.append(items.map(\.brand))
        bindings.append(items.map(\.last4))
        bindings.append(items.map(\.expMonth))
        bindings.append(items.map(\.expYear))
        bindings.append(items.map(\.fingerprint))
        bindings.append(items.map(\.holder))
        bindings.append(items.map(\.createdEventID))
        bindings.append(items.map(\.createdData))
        bindings.append(items.map(\.processingEventID))
        bindings.append(items.map(\.processingData))
        bindings.append(items.map(\.realm))
        bindings.append(items.map(\.riskScore))
        bindings.append(items.map(\.riskRules))
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> StartRow {
        let (_, text, payment) = try row.decode((Int32, String, PaymentID?).self)
        guard let outcome = StartOutcome(rawValue: text) else { throw UnexpectedRow(value: text) }
        return StartRow(outcome: outcome, paymentID: payment)
    }
}

/// One issuer answer as the finish batch takes it (`checkout_finish`).
struct FinishItem: Sendable {
    var accountID: AccountID
    var paymentID: PaymentID
    var approved: Bool
    var failureCode: String
    var eventID: String
    var data: String
}

/// What the finish batch did with one item: `moved` it, or left it `unchanged` (then `status` says
/// where the payment is; nil when there is no such payment).
struct FinishRow: Sendable, Equatable {
    let moved: Bool
    let status: PaymentStatus?
    let failureCode: DeclineCode?
}

struct FinishBatch: PostgresPreparedStatement {
    static let name = "PaymentCore.FinishBatch"
    static let sql = "SELECT item, outcome, status, failure_code FROM checkout_finish($1, $2, $3, $4, $5, $6)"
    static let bindingDataTypes: [PostgresDataType] = [.textArray, .textArray, .boolArray, .textArray, .textArray, .textArray]

    let items: [FinishItem]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 6)
        bindings.append(items.map(\.accountID))
        bindings.append(items.map(\.paymentID))
        bindings.append(items.map(\.approved))
        bindings.append(items.map(\.failureCode))
        bindings.append(items.map(\.eventID))
        bindings.append(items.map(\.data))
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> FinishRow {
        let (_, outcome, status, failure) = try row.decode((Int32, String, String?, String?).self)
        return FinishRow(
            moved: outcome == "moved", status: status.flatMap(PaymentStatus.init(rawValue:)),
            failureCode: failure.flatMap(DeclineCode.init(rawValue:))
        )
    }
}

/// One decision of the simulated issuer, as its batch takes it.
struct DecisionItem: Sendable {
    var attemptID: String
    var issuerID: String
    /// `approved`, `declined` or `voided`.
    var outcome: String
    var declineCode: String
    var authorizationCode: String
    var amount: Int64
    var currency: String
}

/// The stored decision for an attempt: the first one written wins, whoever wrote it.
struct DecisionRow: Sendable, Equatable {
    let outcome: String
    let declineCode: String?
    let authorizationCode: String?
}

/// Writes each decision unless the attempt has one, and returns the stored decision of each item.
/// A decision committed by someone else while this statement waited for it is not in this
/// statement's snapshot: its row comes back with no outcome, and a second read finds it. Existing
/// decisions are looked up per item (LATERAL): joined as a set, PostgreSQL hashed the whole table
/// on every batch.
struct DecisionBatch: PostgresPreparedStatement {
    static let name = "PaymentCore.DecisionBatch"
    static let sql = """
        WITH i AS (
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[]) WITH ORDINALITY
                AS t (attempt_id, issuer_id, outcome, decline_code, authorization_code, amount, currency, n)
        ), written AS (
            INSERT INTO simulator_authorizations (attempt_id, issuer_id, outcome, decline_code, authorization_code, amount, currency)
            SELECT DISTINCT ON (i.attempt_id) i.attempt_id, i.issuer_id, i.outcome, nullif(i.decline_code, ''), nullif(i.authorization_code, ''),
                   CASE WHEN i.outcome = 'voided' THEN NULL ELSE i.amount END, nullif(i.currency, '')
            FROM i ORDER BY i.attempt_id, i.n
            ON CONFLICT (attempt_id) DO NOTHING
            RETURNING attempt_id, outcome, decline_code, authorization_code
        )
        SELECT coalesce(w.outcome, s.outcome), coalesce(w.decline_code, s.decline_code), coalesce(w.authorization_code, s.authorization_code)
        FROM i
        LEFT JOIN written w ON w.attempt_id = i.attempt_id
        LEFT JOIN LATERAL (
            SELECT outcome, decline_code, authorization_code FROM simulator_authorizations s WHERE w.attempt_id IS NULL AND s.attempt_id = i.attempt_id
        ) s ON true
        ORDER BY i.n
        """
    static let bindingDataTypes: [PostgresDataType] = [.textArray, .textArray, .textArray, .textArray, .textArray, .int8Array, .textArray]

    let items: [DecisionItem]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 7)
        bindings.append(items.map(\.attemptID))
        bindings.append(items.map(\.issuerID))
        bindings.append(items.map(\.outcome))
        bindings.append(items.map(\.declineCode))
        bindings.append(items.map(\.authorizationCode))
        bindings.append(items.map(\.amount))
        bindings.append(items.map(\.currency))
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> DecisionRow? {
        let (outcome, decline, authorization) = try row.decode((String?, String?, String?).self)
        guard let outcome else { return nil }
        return DecisionRow(outcome: outcome, declineCode: decline, authorizationCode: authorization)
    }
}
