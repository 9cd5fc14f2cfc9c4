import NIOCore
import PostgresNIO

/// What an id names: its prefix (`pay`, `plink`, …), as `Identifier.make` writes it.
public protocol IdentifiedKind {
    static var idPrefix: String { get }
}

/// The id of one kind of thing. A payment's id cannot be passed where a link's or an account's is
/// wanted, which with plain strings compiled (`find(accountID: payment.id, id: link.id)` swaps two
/// tenants' worth of meaning without a warning). The text is the id integrators see; nothing
/// checks its shape on the way in, so an id from a URL that names nothing simply finds nothing
/// (`isWellFormed` says whether it could name something).
public struct TypedID<Kind: IdentifiedKind>: RawRepresentable, Hashable, Comparable, Sendable, LosslessStringConvertible {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ text: String) { self.rawValue = text }

    /// A new id of this kind.
    public static func make() -> TypedID { TypedID(rawValue: Identifier.make(Kind.idPrefix)) }

    /// True when the text has this kind's prefix and the shape `make` gives.
    public var isWellFormed: Bool { Identifier.isValid(rawValue, prefix: Kind.idPrefix) }

    public var description: String { rawValue }

    public static func < (lhs: TypedID, rhs: TypedID) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Written as the plain string it is (sessions in Redis, JSON bodies).
extension TypedID: Codable {
    public init(from decoder: any Decoder) throws { self.rawValue = try decoder.singleValueContainer().decode(String.self) }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// Bound and read as the `text` it is, so queries take ids as they took strings.
extension TypedID: PostgresNonThrowingEncodable, PostgresArrayEncodable, PostgresDecodable, PostgresArrayDecodable {
    public static var psqlType: PostgresDataType { .text }
    public static var psqlFormat: PostgresFormat { .binary }
    public static var psqlArrayType: PostgresDataType { .textArray }

    public func encode<JSONEncoder: PostgresJSONEncoder>(into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        byteBuffer.writeString(rawValue)
    }

    public init<JSONDecoder: PostgresJSONDecoder>(
        from buffer: inout ByteBuffer, type: PostgresDataType, format: PostgresFormat, context: PostgresDecodingContext<JSONDecoder>
    ) throws {
        self.rawValue = try String(from: &buffer, type: type, format: format, context: context)
    }
}

/// A merchant's account: the tenant every other row belongs to.
public enum AccountKind: IdentifiedKind { public static let idPrefix = "acct" }
public typealias AccountID = TypedID<AccountKind>

extension Payment: IdentifiedKind { public static let idPrefix = "pay" }
public typealias PaymentID = TypedID<Payment>

extension PaymentLink: IdentifiedKind { public static let idPrefix = "plink" }
public typealias LinkID = TypedID<PaymentLink>

extension PaymentForm: IdentifiedKind { public static let idPrefix = "form" }
public typealias FormID = TypedID<PaymentForm>

extension PaymentMethod: IdentifiedKind { public static let idPrefix = "pm" }
public typealias MethodID = TypedID<PaymentMethod>
