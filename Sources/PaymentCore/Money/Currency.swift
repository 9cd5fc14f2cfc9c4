/// An ISO 4217 currency: its alphabetic and numeric codes and how many minor units make one major unit.
public struct Currency: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Upper-case alphabetic code, e.g. `EUR`.
    public let code: String
    public let numeric: Int
    /// Digits after the decimal point: JPY 0, EUR 2, BHD 3, CLF 4.
    public let exponent: Int
    public let name: String

    public init(code: String, numeric: Int, exponent: Int, name: String) {
        self.code = code
        self.numeric = numeric
        self.exponent = exponent
        self.name = name
    }

    private static let byCode: [String: Currency] = Dictionary(uniqueKeysWithValues: all.map { ($0.code, $0) })

    /// The currency for a code in any case (`eur`, `EUR`); nil for codes ISO 4217 does not list.
    public init?(code: String) {
        guard let currency = Self.byCode[code.uppercased()] else { return nil }
        self = currency
    }

    /// Minor units in one major unit (100 for EUR, 1 for JPY).
    public var minorUnitsPerMajor: Int64 {
        var value: Int64 = 1
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    /// The sign people write in front of an amount, or nil where the code itself is clearer.
    public var symbol: String? { Self.symbols[code] }

    static let symbols: [String: String] = [
        "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩", "ILS": "₪", "NGN": "₦",
        "PHP": "₱", "VND": "₫", "UAH": "₴", "TRY": "₺", "THB": "฿", "CAD": "CA$", "AUD": "A$", "NZD": "NZ$",
        "HKD": "HK$", "SGD": "S$", "MXN": "MX$", "BRL": "R$", "CNY": "CN¥",
    ]

    public var description: String { code }

    public static func < (lhs: Currency, rhs: Currency) -> Bool { lhs.code < rhs.code }

    public static func == (lhs: Currency, rhs: Currency) -> Bool { lhs.code == rhs.code }

    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}

extension Currency {
    public static let usd = Currency(code: "USD")!
    public static let eur = Currency(code: "EUR")!
    public static let gbp = Currency(code: "GBP")!
    public static let jpy = Currency(code: "JPY")!
}
