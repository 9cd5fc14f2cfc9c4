/// The kinds of rows in the transaction log (`payment_events.type`). A closed set: consumers switch
/// over it without `default:`, so a new kind fails to compile wherever it must be handled.
public enum EventType: String, Sendable, CaseIterable, Codable {
    case paymentCreated = "payment.created"
    case paymentProcessing = "payment.processing"
    /// A manual-capture payment's issuer approved: the money is held, not moved.
    case paymentAuthorized = "payment.authorized"
    /// The merchant captured an authorized payment (then `payment.succeeded` with what was captured).
    case paymentCaptured = "payment.captured"
    case paymentSucceeded = "payment.succeeded"
    case paymentFailed = "payment.failed"
    case paymentRefunded = "payment.refunded"
    case paymentCanceled = "payment.canceled"
    case paymentExpired = "payment.expired"
    case paymentLinkExpired = "payment_link.expired"
    /// A settlement's (simulated) payout ran (`Settlements.payOut`).
    case settlementPaid = "settlement.paid"

    /// Events the merchant hears about: a notification, an email, a webhook.
    public var isAnnounced: Bool {
        switch self {
        case .paymentSucceeded, .paymentFailed, .paymentRefunded, .paymentLinkExpired, .settlementPaid, .paymentAuthorized, .paymentCanceled: true
        case .paymentCreated, .paymentProcessing, .paymentCaptured, .paymentExpired: false
        }
    }

    /// A stored row's type; `payment_events_type_known` keeps any other out of the table.
    static func stored(_ text: String) throws -> EventType {
        guard let type = EventType(rawValue: text) else { throw UnknownEventType(text: text) }
        return type
    }

    struct UnknownEventType: Error, CustomStringConvertible {
        let text: String
        var description: String { "payment_events holds an unknown type \(text)" }
    }

    /// The kinds the merchant hears about.
    public static let announced = allCases.filter(\.isAnnounced)

    /// Events that move money, each of which the ledger holds exactly one transfer for.
    public var movesMoney: Bool {
        switch self {
        case .paymentSucceeded, .paymentRefunded: true
        case .paymentCreated, .paymentProcessing, .paymentFailed, .paymentCanceled, .paymentExpired, .paymentLinkExpired, .settlementPaid,
            .paymentAuthorized, .paymentCaptured:
            false
        }
    }
}

/// An event's data as stored: a flat JSON object of strings and integers, keys sorted, with the
/// payment's status after the event. Written by hand rather than with JSONEncoder, which was a
/// noticeable part of a checkout's CPU; the output is the same bytes.
public struct EventData: Sendable, Equatable {
    public enum Value: Sendable, Equatable {
        case string(String)
        case int(Int64)
    }

    private var fields: [(key: String, value: Value)] = []

    public init() {}

    public init(status: PaymentStatus, _ fields: [String: Value] = [:]) {
        self.fields = fields.map { ($0.key, $0.value) }
        self.fields.append(("status", .string(status.rawValue)))
    }

    public subscript(key: String) -> Value? {
        get { fields.first { $0.key == key }?.value }
        set {
            fields.removeAll { $0.key == key }
            if let newValue { fields.append((key, newValue)) }
        }
    }

    public static func == (lhs: EventData, rhs: EventData) -> Bool { lhs.json == rhs.json }

    /// `{"amount":2500,"currency":"EUR","status":"succeeded"}`: keys in byte order, no spaces.
    public var json: String {
        var out = "{"
        // Keys are Kassa's own ASCII names, whose String order is their byte order.
        for (index, field) in fields.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { out += "," }
            Self.quote(field.key, into: &out)
            out += ":"
            switch field.value {
            case .string(let text): Self.quote(text, into: &out)
            case .int(let number): out += String(number)
            }
        }
        return out + "}"
    }

    /// A JSON string literal, escaped as JSONEncoder escapes (it also escapes `/`).
    static func quote(_ text: String, into out: inout String) {
        out += "\""
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || $0 == 0x2F }) {
            out += text  // nothing to escape, the common case
            out += "\""
            return
        }
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "/": out += "\\/"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
