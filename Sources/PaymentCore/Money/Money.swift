/// An amount of money: whole minor units (cents, yen, fils) of one ISO 4217 currency.
///
/// There is no floating point anywhere on the way in or out: people's decimal text is
/// parsed digit by digit and formatted back the same way.
public struct Money: Sendable, Hashable, CustomStringConvertible {
    public let minorUnits: Int64
    public let currency: Currency

    public init(minorUnits: Int64, currency: Currency) {
        self.minorUnits = minorUnits
        self.currency = currency
    }

    /// The largest amount a payment may have unless configured otherwise (99 999 999 minor units).
    public static let defaultMaximum: Int64 = 99_999_999

    /// `€19.99`, `¥500`, `CHF 1,234.50`, `-$5.00`.
    public var formatted: String {
        let sign = minorUnits < 0 ? "-" : ""
        let number = Self.digits(minorUnits.magnitude, exponent: currency.exponent, grouping: true)
        if let symbol = currency.symbol { return sign + symbol + number }
        return sign + currency.code + "\u{00A0}" + number
    }

    /// `19.99` — what a form field shows when it is filled in again.
    public var decimalString: String {
        (minorUnits < 0 ? "-" : "") + Self.digits(minorUnits.magnitude, exponent: currency.exponent, grouping: false)
    }

    public var description: String { formatted }

    private static func digits(_ magnitude: UInt64, exponent: Int, grouping: Bool) -> String {
        var text = String(magnitude)
        if text.count <= exponent { text = String(repeating: "0", count: exponent - text.count + 1) + text }
        let split = text.index(text.endIndex, offsetBy: -exponent)
        var whole = String(text[..<split])
        let fraction = String(text[split...])
        if grouping && whole.count > 3 {
            var grouped = ""
            for (offset, character) in whole.enumerated() {
                if offset > 0 && (whole.count - offset) % 3 == 0 { grouped.append(",") }
                grouped.append(character)
            }
            whole = grouped
        }
        return exponent == 0 ? whole : whole + "." + fraction
    }
}

// MARK: - Parsing what people type

extension Money {
    /// Why typed text is not an amount, in words a person can act on.
    public enum ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        case empty
        case notANumber
        case notPositive
        case tooManyDecimals(currency: String, exponent: Int)
        case tooLarge(maximum: String)
        case currencyMismatch(typed: String, expected: String)
        /// `1.500` in a two-decimal currency: a thousand and a half, or one and a half?
        case ambiguous(String)

        public var description: String {
            switch self {
            case .empty: "Enter an amount."
            case .notANumber: "Enter an amount as a number, such as 19.99."
            case .notPositive: "Enter an amount greater than zero."
            case .tooManyDecimals(let currency, 0): "\(currency) has no minor units; enter a whole number."
            case .tooManyDecimals(let currency, let exponent):
                "\(currency) amounts have at most \(exponent) digit\(exponent == 1 ? "" : "s") after the decimal point."
            case .tooLarge(let maximum): "The largest amount is \(maximum)."
            case .currencyMismatch(let typed, let expected): "That amount is in \(typed), but the currency is \(expected)."
            case .ambiguous(let typed): "\(typed) could be read two ways. Write it without the dot, or with the cents (for example 1.50 or 1500)."
            }
        }
    }

    /// Parses an amount as people type it: `19.99`, `1,000.50`, `1.000,50`, `1 000`, `¥500`, `EUR 12`.
    ///
    /// A comma followed by exactly three digits groups thousands (`1,000` is a thousand, as Kassa
    /// itself prints it); a lone dot followed by three digits in a currency with fewer decimals
    /// (`1.500` euros) is refused as ambiguous rather than guessed, since a wrong guess is a
    /// thousandfold mistake. Otherwise the last separator is the decimal point. Zero and negative amounts, amounts above `maximum`
    /// and more decimals than the currency has are refused (trailing zeros are fine: `500.00` yen).
    public static func parse(_ text: String, currency: Currency, maximum: Int64 = defaultMaximum) throws(ParseError) -> Money {
        var body = Substring(text.trimmingWhitespace())
        guard !body.isEmpty else { throw .empty }

        // A sign first or after the currency marker: no negative amounts, whatever the spelling.
        try stripCurrency(&body, expected: currency)
        if body.hasPrefix("-") || body.hasPrefix("\u{2212}") || body.hasPrefix("(") { throw .notPositive }
        if body.hasPrefix("+") { body = body.dropFirst() }

        let ignored: Set<Character> = [" ", "\u{00A0}", "\u{202F}", "\u{2009}", "'", "\u{2019}", "_"]
        let compact = body.filter { !ignored.contains($0) }
        guard !compact.isEmpty, compact.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "," || $0 == ".") }),
            compact.first!.isNumber || compact.first == "." || compact.first == ","
        else { throw .notANumber }

        let (whole, fraction) = try splitDecimal(compact, exponent: currency.exponent, typed: text.trimmingWhitespace())
        guard !whole.isEmpty || !fraction.isEmpty else { throw .notANumber }

        var significantFraction = Substring(fraction)
        while significantFraction.count > currency.exponent, significantFraction.last == "0" {
            significantFraction = significantFraction.dropLast()
        }
        guard significantFraction.count <= currency.exponent else {
            throw .tooManyDecimals(currency: currency.code, exponent: currency.exponent)
        }

        let maximumText = Money(minorUnits: maximum, currency: currency).formatted
        var minor: Int64 = 0
        let digits = whole + significantFraction + String(repeating: "0", count: currency.exponent - significantFraction.count)
        for digit in digits {
            let (shifted, overflowA) = minor.multipliedReportingOverflow(by: 10)
            let (next, overflowB) = shifted.addingReportingOverflow(Int64(digit.wholeNumberValue!))
            guard !overflowA, !overflowB else { throw .tooLarge(maximum: maximumText) }
            minor = next
        }
        guard minor > 0 else { throw .notPositive }
        guard minor <= maximum else { throw .tooLarge(maximum: maximumText) }
        return Money(minorUnits: minor, currency: currency)
    }

    /// Removes a leading or trailing symbol or code, refusing one that names another currency.
    private static func stripCurrency(_ body: inout Substring, expected: Currency) throws(ParseError) {
        // A sign may come before the symbol: "-€5".
        var sign = ""
        if body.hasPrefix("-") || body.hasPrefix("\u{2212}") {
            sign = "-"
            body = body.dropFirst()
        }
        defer { body = Substring(sign) + body }

        // Codes: "EUR 12", "12 eur".
        let letters = body.prefix { $0.isLetter }
        let trailing = String(body.reversed().prefix { $0.isLetter }.reversed())
        for (marker, isPrefix) in [(String(letters), true), (trailing, false)] where marker.count == 3 {
            guard let typed = Currency(code: marker) else { continue }
            guard typed == expected else { throw .currencyMismatch(typed: typed.code, expected: expected.code) }
            body = isPrefix ? body.dropFirst(3) : body.dropLast(3)
            body = Substring(String(body).trimmingWhitespace())
            return
        }

        // Symbols, longest first so "CA$" wins over "$".
        let symbols = Currency.symbols.sorted { $0.value.count > $1.value.count }
        for (code, symbol) in symbols where body.hasPrefix(symbol) || body.hasSuffix(symbol) {
            let matches = symbolFits(symbol, code: code, expected: expected)
            guard matches else { throw .currencyMismatch(typed: code, expected: expected.code) }
            body = body.hasPrefix(symbol) ? body.dropFirst(symbol.count) : body.dropLast(symbol.count)
            body = Substring(String(body).trimmingWhitespace())
            return
        }
    }

    /// "$" fits every dollar and "¥" both yen and yuan; other symbols name one currency.
    private static func symbolFits(_ symbol: String, code: String, expected: Currency) -> Bool {
        if code == expected.code { return true }
        switch symbol {
        case "$": return expected.code.hasSuffix("D") || expected.symbol?.hasSuffix("$") == true
        case "¥": return expected.code == "CNY" || expected.code == "JPY"
        default: return false
        }
    }

    /// Splits `1,234.56` into ("1234", "56") after checking the grouping is plausible.
    private static func splitDecimal(_ text: String, exponent: Int, typed: String) throws(ParseError) -> (String, String) {
        let commas = text.filter { $0 == "," }.count
        let dots = text.filter { $0 == "." }.count
        var decimal: Character? = nil
        switch (commas, dots) {
        case (0, 0): decimal = nil
        case (_, 0) where commas > 1, (0, _) where dots > 1: decimal = nil  // only grouping
        case (1, 0), (0, 1):
            let separator: Character = commas == 1 ? "," : "."
            let after = text.split(separator: separator, omittingEmptySubsequences: false).last!.count
            let before = text.split(separator: separator, omittingEmptySubsequences: false).first!.count
            // "1,000" is a thousand; "1.500" is 1.5 dinars but could be 1.50 or 1500 euros.
            let threeAfter = after == 3 && before >= 1 && before <= 3
            if threeAfter && separator == "." && exponent < 3 { throw .ambiguous(typed) }
            decimal = threeAfter && separator == "," ? nil : separator
        default:
            let last = text.last { $0 == "," || $0 == "." }!
            decimal = last
            let count = last == "," ? commas : dots
            guard count == 1 else { throw .notANumber }
        }
        let parts = decimal.map { text.split(separator: $0, omittingEmptySubsequences: false) } ?? [Substring(text)]
        let wholeGrouped = String(parts[0])
        let fraction = parts.count > 1 ? String(parts[1]) : ""
        guard parts.count <= 2, !fraction.contains(","), !fraction.contains(".") else { throw .notANumber }

        let groupSeparators: Set<Character> = [",", "."]
        let groups = wholeGrouped.split(omittingEmptySubsequences: false) { groupSeparators.contains($0) }
        if groups.count > 1 {
            // 1,234,567 and Indian 12,34,567: the first group 1-3 digits, the last 3, the rest 2 or 3.
            guard let first = groups.first, (1...3).contains(first.count), groups.last!.count == 3,
                groups.dropFirst().dropLast().allSatisfy({ (2...3).contains($0.count) })
            else { throw .notANumber }
        }
        return (groups.joined(), fraction)
    }
}

extension String {
    /// Without leading and trailing white space (spaces, tabs, line breaks and Unicode's others).
    /// Most values have none: those come back as they are without walking their characters.
    public func trimmingWhitespace() -> String {
        let utf8 = self.utf8
        guard let first = utf8.first, let last = utf8.last else { return self }
        func plain(_ byte: UInt8) -> Bool { byte > 0x20 && byte < 0x7F }
        if plain(first) && plain(last) { return self }
        let isSpace: (Character) -> Bool = { $0.isWhitespace }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[start...end])
    }
}
