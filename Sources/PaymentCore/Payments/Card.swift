import Crypto

/// The card networks Kassa routes.
public enum CardNetwork: String, Sendable, CaseIterable, Codable {
    case visa, mastercard, amex, discover, jcb, unionpay

    public var displayName: String {
        switch self {
        case .visa: "Visa"
        case .mastercard: "Mastercard"
        case .amex: "American Express"
        case .discover: "Discover"
        case .jcb: "JCB"
        case .unionpay: "UnionPay"
        }
    }

    /// Digits of the security code printed on the card.
    public var cvcLength: Int { self == .amex ? 4 : 3 }

    /// Card number lengths the network issues.
    public var lengths: ClosedRange<Int> {
        switch self {
        case .visa: 13...19
        case .mastercard: 16...16
        case .amex: 15...15
        case .discover, .jcb, .unionpay: 16...19
        }
    }

    /// The network from the number's leading digits (its IIN), or nil for one Kassa does not route.
    public static func detect(_ digits: String) -> CardNetwork? {
        func prefix(_ count: Int) -> Int? { digits.count >= count ? Int(digits.prefix(count)) : nil }
        if digits.hasPrefix("4") { return .visa }
        if let two = prefix(2), (51...55).contains(two) { return .mastercard }
        if let four = prefix(4), (2221...2720).contains(four) { return .mastercard }
        if let two = prefix(2), two == 34 || two == 37 { return .amex }
        if digits.hasPrefix("6011") || digits.hasPrefix("65") { return .discover }
        if let three = prefix(3), (644...649).contains(three) { return .discover }
        if let four = prefix(4), (3528...3589).contains(four) { return .jcb }
        if digits.hasPrefix("62") || digits.hasPrefix("81") { return .unionpay }
        return nil
    }
}

/// Pure card checks: nothing here stores, logs or sends a number.
public enum CardCheck {
    /// True when `digits` passes the Luhn (mod 10) check.
    public static func luhn(_ digits: String) -> Bool {
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        var sum = 0
        for (index, character) in digits.reversed().enumerated() {
            var value = character.wholeNumberValue!
            if index % 2 == 1 {
                value *= 2
                if value > 9 { value -= 9 }
            }
            sum += value
        }
        return sum % 10 == 0
    }

    /// The digits of a typed card number, dropping the spaces and dashes people type.
    public static func digits(of typed: String) -> String? {
        let kept = typed.filter { $0 != " " && $0 != "-" && $0 != "\u{00A0}" }
        guard !kept.isEmpty, kept.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return kept
    }
}

/// What a payer typed into the checkout, checked. Its description never shows the number or the CVC.
public struct CardDetails: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public let number: String
    public let network: CardNetwork
    public let expMonth: Int
    public let expYear: Int
    public let cvc: String
    public let holderName: String

    public var last4: String { String(number.suffix(4)) }
    /// The first six digits, which say who issued the card.
    public var bin: String { String(number.prefix(6)) }

    public var description: String { "\(network.rawValue) •••• \(last4) \(expMonth)/\(expYear)" }
    public var debugDescription: String { description }

    /// A field of the card form and what is wrong with it.
    public enum Problem: Error, Sendable, Equatable {
        case number(String)
        /// A number of a known network with a wrong length or check digit: a typo, shown again
        /// so the payer can find it (it is no card's number).
        case mistypedNumber(String)
        case expiry(String)
        case cvc(String)
        case holderName(String)

        public var field: String {
            switch self {
            case .number, .mistypedNumber: "card_number"
            case .expiry: "exp_month"
            case .cvc: "cvc"
            case .holderName: "cardholder_name"
            }
        }

        public var message: String {
            switch self {
            case .number(let message), .mistypedNumber(let message), .expiry(let message), .cvc(let message), .holderName(let message): message
            }
        }
    }

    /// Checks the fields as typed. `today` is (year, month) so tests fix the clock.
    /// Every problem is returned, one per field, so a form can show them all at once.
    public static func check(
        number typedNumber: String, expMonth typedMonth: String, expYear typedYear: String, cvc typedCVC: String,
        holderName typedName: String, today: (year: Int, month: Int)
    ) -> Result<CardDetails, ProblemList> {
        var problems: [Problem] = []
        var network: CardNetwork? = nil
        let digits = CardCheck.digits(of: typedNumber)
        if typedNumber.trimmingWhitespace().isEmpty {
            problems.append(.number("Enter the card number."))
        } else if let digits {
            network = CardNetwork.detect(digits)
            if let detected = network {
                if !detected.lengths.contains(digits.count) {
                    problems.append(.mistypedNumber("A \(detected.displayName) card number has \(lengthsText(detected)) digits."))
                } else if !CardCheck.luhn(digits) {
                    problems.append(.mistypedNumber("This card number is not valid. Check it for typos."))
                }
            } else {
                problems.append(.number("This card type is not accepted. Use Visa, Mastercard, American Express, Discover, JCB or UnionPay."))
            }
        } else {
            problems.append(.number("A card number has only digits."))
        }

        let month = Int(typedMonth.trimmingWhitespace())
        var year = Int(typedYear.trimmingWhitespace())
        if let short = year, (0...99).contains(short), typedYear.trimmingWhitespace().count <= 2 { year = 2000 + short }
        if let month, let year, (1...12).contains(month), (2000...2199).contains(year) {
            if (year, month) < (today.year, today.month) {
                problems.append(.expiry("This card has expired."))
            } else if year > today.year + 20 {
                problems.append(.expiry("Check the expiry year."))
            }
        } else {
            problems.append(.expiry("Enter the expiry month and year as printed on the card (MM / YY)."))
        }

        let cvc = typedCVC.trimmingWhitespace()
        let cvcLength = network?.cvcLength
        if cvc.isEmpty {
            problems.append(.cvc("Enter the security code."))
        } else if !cvc.allSatisfy({ $0.isASCII && $0.isNumber }) || (cvcLength.map { cvc.count != $0 } ?? !(3...4).contains(cvc.count)) {
            problems.append(.cvc("The security code has \(cvcLength ?? 3) digits\(network == .amex ? ", printed on the front" : "")."))
        }

        let name = typedName.trimmingWhitespace()
        if name.isEmpty {
            problems.append(.holderName("Enter the name on the card."))
        } else if name.count > 100 {
            problems.append(.holderName("Use at most 100 characters."))
        }

        guard problems.isEmpty, let digits, let network, let month, let year else { return .failure(ProblemList(problems: problems)) }
        return .success(CardDetails(number: digits, network: network, expMonth: month, expYear: year, cvc: cvc, holderName: name))
    }

    private static func lengthsText(_ network: CardNetwork) -> String {
        let lengths = network.lengths
        return lengths.count == 1 ? "\(lengths.lowerBound)" : "\(lengths.lowerBound) to \(lengths.upperBound)"
    }

    public struct ProblemList: Error, Sendable, Equatable {
        public let problems: [Problem]

        /// The number was mistyped: the form keeps it so the payer can correct it.
        public var keepsNumber: Bool {
            problems.contains { if case .mistypedNumber = $0 { true } else { false } }
        }
    }

    /// Test-only and internal construction of already checked details.
    public init(number: String, network: CardNetwork, expMonth: Int, expYear: Int, cvc: String, holderName: String) {
        self.number = number
        self.network = network
        self.expMonth = expMonth
        self.expYear = expYear
        self.cvc = cvc
        self.holderName = holderName
    }

    /// A keyed fingerprint of the number: the same card gives the same value for this key,
    /// and nobody without the key can test a guessed number against it.
    public func fingerprint(key: SymmetricKey) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(("card:" + number).utf8), using: key)
        return Hex.string(mac.prefix(16))
    }
}
