import Foundation

/// What makes a password acceptable: at least 12 characters and not one of the
/// 30,000 most common passwords (nor one of them with digits or symbols tacked on).
public struct PasswordPolicy: Sendable {
    public static let minimumLength = 12
    /// Long enough for any passphrase, short enough that hashing cannot be abused.
    public static let maximumLength = 256

    let common: Set<String>

    public init(commonPasswords: Set<String>) {
        self.common = commonPasswords
    }

    /// Loads the list shipped with the App module.
    public static func bundled() throws -> PasswordPolicy {
        guard let url = Bundle.module.url(forResource: "common-passwords", withExtension: "txt") else {
            throw CocoaError(.fileNoSuchFile)
        }
        let text = try String(contentsOf: url, encoding: .utf8)
        let words = text.split(whereSeparator: \.isNewline)
            .filter { !$0.hasPrefix("#") }
            .map { $0.lowercased() }
        return PasswordPolicy(commonPasswords: Set(words))
    }

    /// Why the password is refused, in words for the form; nil when it is fine.
    public func problem(with password: String, email: String? = nil) -> String? {
        if password.length < Self.minimumLength {
            return "Use at least \(Self.minimumLength) characters."
        }
        if password.length > Self.maximumLength {
            return "Use at most \(Self.maximumLength) characters."
        }
        let lowered = password.lowercased()
        if let email {
            let address = email.lowercased()
            let local = address.split(separator: "@").first.map(String.init) ?? ""
            if lowered == address || (local.count >= 4 && lowered.contains(local) && lowered.count - local.count < 6) {
                return "Choose a password that is not your email address."
            }
        }
        if Set(lowered).count <= 2 || Self.isRepetition(lowered) {
            return "This password is too easy to guess: use more different characters."
        }
        let stem = String(lowered.reversed().drop { $0.isNumber || $0.isPunctuation || $0.isSymbol || $0 == " " }.reversed())
        if common.contains(lowered) || (stem.count >= 4 && common.contains(stem)) {
            return "This password is too common. Choose one that others are unlikely to use."
        }
        return nil
    }

    /// True for text made of one shorter piece repeated ("abcabcabcabc", "passwordpassword").
    static func isRepetition(_ text: String) -> Bool {
        let characters = Array(text)
        guard characters.count >= 2 else { return false }
        for length in 1...(characters.count / 2) where characters.count % length == 0 {
            let unit = characters[0..<length]
            if stride(from: length, to: characters.count, by: length).allSatisfy({ characters[$0..<($0 + length)] == unit }) {
                return true
            }
        }
        return false
    }
}
