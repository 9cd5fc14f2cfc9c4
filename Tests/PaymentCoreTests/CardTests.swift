import Crypto
import PaymentCore
import Testing

@Suite("Cards: Luhn, brand, checks, fingerprints")
struct CardTests {
    static let today = (year: 2026, month: 11)

    @Test(arguments: [
        ("4242424242424242", true), ("4000000000000002", true), ("5555555555554444", true), ("378282246310005", true),
        ("4242424242424241", false), ("1234567812345678", false), ("0", true), ("", false), ("42a2", false), ("79927398713", true),
    ])
    func luhn(number: String, valid: Bool) {
        #expect(CardCheck.luhn(number) == valid)
    }

    @Test(arguments: [
        ("4242424242424242", CardNetwork.visa), ("5555555555554444", .mastercard), ("2223003122003222", .mastercard),
        ("378282246310005", .amex), ("340000000000009", .amex), ("6011111111111117", .discover), ("6500000000000002", .discover),
        ("6445644564456445", .discover), ("3566002020360505", .jcb), ("6200000000000005", .unionpay), ("8100000000000000", .unionpay),
    ])
    func brandFromIIN(number: String, network: CardNetwork) {
        #expect(CardNetwork.detect(number) == network)
    }

    @Test(arguments: ["30569309025904", "36227206271667", "1234567890123", "9999999999999995"])
    func networksKassaDoesNotRouteHaveNoBrand(number: String) {
        #expect(CardNetwork.detect(number) == nil)
    }

    func check(
        number: String = "4242 4242 4242 4242", month: String = "12", year: String = "2030", cvc: String = "123", name: String = "Ada Lovelace"
    )
        -> Result<CardDetails, CardDetails.ProblemList>
    {
        CardDetails.check(number: number, expMonth: month, expYear: year, cvc: cvc, holderName: name, today: Self.today)
    }

    @Test func goodCardPassesWithSpacesAndShortYear() throws {
        let card = try check(number: "4242-4242 4242 4242", year: "30").get()
        #expect(card.number == "4242424242424242")
        #expect(card.network == .visa)
        #expect(card.expYear == 2030)
        #expect(card.last4 == "4242")
        #expect(card.bin == "424242")
    }

    @Test(arguments: [
        ("", "card_number"), ("4242 4242 4242 4241", "card_number"), ("4242", "card_number"), ("4242-abcd", "card_number"),
        ("3056 9309 0259 04", "card_number"),
    ])
    func badNumbersAreNamed(number: String, field: String) {
        guard case .failure(let list) = check(number: number) else {
            Issue.record("accepted \(number)")
            return
        }
        #expect(list.problems.map(\.field) == [field])
    }

    @Test(arguments: [("10", "2026"), ("13", "2030"), ("0", "2030"), ("", ""), ("ab", "cd"), ("12", "2099")])
    func badExpiryIsNamed(month: String, year: String) {
        guard case .failure(let list) = check(month: month, year: year) else {
            Issue.record("accepted \(month)/\(year)")
            return
        }
        #expect(list.problems.map(\.field) == ["exp_month"])
    }

    @Test func cardExpiringThisMonthIsStillGood() {
        #expect((try? check(month: "11", year: "2026").get()) != nil)
    }

    @Test func cvcLengthFollowsTheNetwork() {
        #expect((try? check(number: "378282246310005", cvc: "1234").get()) != nil)
        #expect((try? check(number: "378282246310005", cvc: "123").get()) == nil)
        #expect((try? check(cvc: "1234").get()) == nil)
        #expect((try? check(cvc: "12a").get()) == nil)
        #expect((try? check(cvc: "").get()) == nil)
    }

    @Test func everyProblemIsReportedAtOnce() {
        guard case .failure(let list) = check(number: "", month: "", year: "", cvc: "", name: "") else {
            Issue.record("accepted an empty card")
            return
        }
        #expect(list.problems.map(\.field) == ["card_number", "exp_month", "cvc", "cardholder_name"])
        #expect(list.problems.allSatisfy { !$0.message.isEmpty })
    }

    @Test func descriptionNeverShowsTheNumberOrCVC() throws {
        let card = try check(cvc: "987").get()
        for text in [card.description, card.debugDescription, "\(card)", String(reflecting: card)] {
            #expect(!text.contains("4242424242424242"))
            #expect(!text.contains("987"))
        }
    }

    @Test func fingerprintIsKeyedAndStable() throws {
        let card = try check().get()
        let key = SymmetricKey(data: Array(repeating: UInt8(1), count: 32))
        let other = SymmetricKey(data: Array(repeating: UInt8(2), count: 32))
        #expect(card.fingerprint(key: key) == card.fingerprint(key: key))
        #expect(card.fingerprint(key: key) != card.fingerprint(key: other))
        #expect(card.fingerprint(key: key).count == 32)
        #expect(!card.fingerprint(key: key).contains("4242"))
    }
}
