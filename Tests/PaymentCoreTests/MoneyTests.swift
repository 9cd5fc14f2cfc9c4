import PaymentCore
import Testing

@Suite("Money: ISO 4217, parsing what people type, formatting")
struct MoneyTests {
    @Test func tableIsTheActiveISO4217List() {
        #expect(Currency.all.count >= 150)
        #expect(Set(Currency.all.map(\.code)).count == Currency.all.count)
        #expect(Set(Currency.all.map(\.numeric)).count == Currency.all.count)
        #expect(Currency.all.allSatisfy { (0...4).contains($0.exponent) && $0.code.count == 3 })
        #expect(Currency(code: "eur")?.code == "EUR")
        #expect(Currency(code: "XXX") == nil)
        #expect(Currency(code: "EURO") == nil)
    }

    @Test(arguments: [("JPY", 0, 392), ("KRW", 0, 410), ("EUR", 2, 978), ("USD", 2, 840), ("BHD", 3, 48), ("KWD", 3, 414), ("CLF", 4, 990)])
    func exponentsAndNumericCodes(code: String, exponent: Int, numeric: Int) throws {
        let currency = try #require(Currency(code: code))
        #expect(currency.exponent == exponent)
        #expect(currency.numeric == numeric)
    }

    /// Every currency of the table: what Kassa prints, a person can type back.
    @Test(arguments: Currency.all)
    func formattedAmountsParseBackInEveryCurrency(currency: Currency) throws {
        for minor: Int64 in [1, 7, 99, 100, 1999, 123_456, 99_999_999] {
            let money = Money(minorUnits: minor, currency: currency)
            #expect(try Money.parse(money.formatted, currency: currency) == money, "\(money.formatted)")
            #expect(try Money.parse(money.decimalString, currency: currency) == money, "\(money.decimalString)")
        }
    }

    @Test(
        arguments: [
            ("19.99", "EUR", 1999), ("1,000.50", "USD", 100_050), ("¥500", "JPY", 500), ("1.000,50", "EUR", 100_050),
            ("1 000", "EUR", 100_000), ("€19,99", "EUR", 1999), ("EUR 12", "EUR", 1200), ("12 eur", "EUR", 1200),
            ("500.00", "JPY", 500), ("1.500", "BHD", 1500), ("0.5", "EUR", 50), (".5", "EUR", 50), ("+7", "EUR", 700),
            ("1,23,456.00", "INR", 12_345_600), ("CHF 1'000.50", "CHF", 100_050), ("1.2345", "CLF", 12345),
            ("10.000,5", "EUR", 1_000_050), ("1.000.000", "JPY", 1_000_000), ("$5", "CAD", 500), ("CA$5", "CAD", 500), ("  42  ", "GBP", 4200),
            ("1,500", "BHD", 1_500_000), ("19.9", "EUR", 1990),
        ] as [(String, String, Int64)])
    func parsesWhatPeopleType(text: String, code: String, minor: Int64) throws {
        let currency = try #require(Currency(code: code))
        #expect(try Money.parse(text, currency: currency).minorUnits == minor)
    }

    @Test(
        arguments: [
            ("", "EUR", Money.ParseError.empty), ("   ", "EUR", .empty), ("abc", "EUR", .notANumber),
            ("-5", "EUR", .notPositive), ("-€5", "EUR", .notPositive), ("0", "EUR", .notPositive), ("0.00", "EUR", .notPositive),
            ("19.9999", "EUR", .tooManyDecimals(currency: "EUR", exponent: 2)),
            ("19.999", "EUR", .ambiguous("19.999")), ("€1.500", "EUR", .ambiguous("€1.500")), ("1.000", "JPY", .ambiguous("1.000")),
            ("500.5", "JPY", .tooManyDecimals(currency: "JPY", exponent: 0)),
            ("1.5005", "BHD", .tooManyDecimals(currency: "BHD", exponent: 3)),
            ("1000000", "EUR", .tooLarge(maximum: "€999,999.99")),
            ("99999999999999999999999", "EUR", .tooLarge(maximum: "€999,999.99")),
            ("€5", "USD", .currencyMismatch(typed: "EUR", expected: "USD")),
            ("GBP 5", "EUR", .currencyMismatch(typed: "GBP", expected: "EUR")),
            ("1,2,3", "EUR", .notANumber), ("1..2", "EUR", .notANumber), ("12abc", "EUR", .notANumber),
            ("1e5", "EUR", .notANumber), ("1,000,00", "EUR", .notANumber), ("٣", "EUR", .notANumber),
        ] as [(String, String, Money.ParseError)])
    func refusesWhatIsNotAnAmount(text: String, code: String, error: Money.ParseError) throws {
        let currency = try #require(Currency(code: code))
        #expect(throws: error) { try Money.parse(text, currency: currency) }
        #expect(!error.description.isEmpty)
    }

    @Test func maximumIsConfigurable() throws {
        #expect(throws: Money.ParseError.tooLarge(maximum: "$10.00")) { try Money.parse("10.01", currency: .usd, maximum: 1000) }
        #expect(try Money.parse("10.00", currency: .usd, maximum: 1000).minorUnits == 1000)
    }

    @Test(
        arguments: [
            (1999, "EUR", "€19.99"), (500, "JPY", "¥500"), (123_456, "CHF", "CHF\u{00A0}1,234.56"), (1500, "BHD", "BHD\u{00A0}1.500"),
            (-500, "USD", "-$5.00"), (5, "EUR", "€0.05"), (0, "EUR", "€0.00"), (99_999_999, "GBP", "£999,999.99"),
            (12345, "CLF", "CLF\u{00A0}1.2345"), (100, "KRW", "₩100"),
        ] as [(Int64, String, String)])
    func formatsForTheCurrencyExponent(minor: Int64, code: String, text: String) throws {
        let currency = try #require(Currency(code: code))
        #expect(Money(minorUnits: minor, currency: currency).formatted == text)
    }
}
