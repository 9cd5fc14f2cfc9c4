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

    /// Decodes `+` and `%XX` byte by byte; drops U+0000, which no person types and PostgreSQL text
    /// cannot hold. A malformed escape stays as typed; invalid UTF-8 becomes U+FFFD.
    private static func decode(_ raw: Substring) -> String {
        let input = Array(raw.utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(input.count)
        var index = 0
        while index < input.count {
            let byte = input[index]
            index += 1
            switch byte {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                if index + 1 < input.count, let high = hexValue(input[index]), let low = hexValue(input[index + 1]) {
                    let decoded = high << 4 | low
                    if decoded != 0 { bytes.append(decoded) }
                    index += 2
                } else {
                    bytes.append(byte)  // not an escape: kept as typed
                }
            case 0: continue
            default: bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The first value of a field, trimmed of surrounding white space; nil when absent.
    public subscript(_ name: String) -> String? {
        pairs.first { $0.0 == name }.map { $0.1.trimmingWhitespace() }
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
