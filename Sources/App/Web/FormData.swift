import Foundation

/// The fields of an `application/x-www-form-urlencoded` body (or query string).
public struct FormData: Sendable, Equatable {
    private var pairs: [(String, String)]

    public init(pairs: [(String, String)] = []) {
        self.pairs = pairs
    }

    public static func == (lhs: FormData, rhs: FormData) -> Bool {
        lhs.pairs.elementsEqual(rhs.pairs) { $0 == $1 }
    }

    /// Parses `a=1&b=two+words&c=%C3%A9`; malformed escapes are kept as typed.
    public init(urlEncoded text: String) {
        var pairs: [(String, String)] = []
        for part in text.split(separator: "&", omittingEmptySubsequences: true) {
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.decode(pieces[0])
            let value = pieces.count > 1 ? Self.decode(pieces[1]) : ""
            pairs.append((name, value))
        }
        self.init(pairs: pairs)
    }

    /// Decodes `+` and `%XX`; drops U+0000, which no person types and PostgreSQL text cannot hold.
    private static func decode(_ raw: Substring) -> String {
        let spaced = raw.replacingOccurrences(of: "+", with: " ")
        let decoded = spaced.removingPercentEncoding ?? spaced
        return decoded.contains("\u{0}") ? decoded.replacingOccurrences(of: "\u{0}", with: "") : decoded
    }

    /// The first value of a field, trimmed of surrounding white space; nil when absent.
    public subscript(_ name: String) -> String? {
        pairs.first { $0.0 == name }.map { $0.1.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    /// The value exactly as sent (passwords keep their spaces).
    public func raw(_ name: String) -> String? {
        pairs.first { $0.0 == name }?.1
    }

    /// Every value of a repeated field (checkboxes).
    public func all(_ name: String) -> [String] {
        pairs.filter { $0.0 == name }.map(\.1)
    }
}
