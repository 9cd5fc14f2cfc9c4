import ExtrasBase64

/// Opaque ids with a type prefix (`acct_`, `usr_`, `pay_`, …), as integrators see them.
public enum Identifier {
    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// A new id: the prefix, an underscore and 24 base-62 characters (about 143 random bits).
    ///
    /// Each random byte gives one character when its low six bits are below 62 (so every character
    /// is equally likely), which takes about 25 bytes: four reads of the system generator (one
    /// `getrandom` call each) instead of one per character.
    public static func make(_ prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        var characters = [UInt8]()
        characters.reserveCapacity(prefix.utf8.count + 25)
        characters.append(contentsOf: prefix.utf8)
        characters.append(UInt8(ascii: "_"))
        var produced = 0
        while produced < 24 {
            var word = generator.next()
            for _ in 0..<8 where produced < 24 {
                let six = Int(word & 63)
                word >>= 8
                if six < 62 {
                    characters.append(alphabet[six])
                    produced += 1
                }
            }
        }
        return String(decoding: characters, as: UTF8.self)
    }

    /// True when `id` has this prefix and the shape `make` gives.
    public static func isValid(_ id: String, prefix: String) -> Bool {
        guard id.hasPrefix(prefix + "_") else { return false }
        let tail = id.utf8.dropFirst(prefix.utf8.count + 1)
        return tail.count == 24 && tail.allSatisfy { alphabet.contains($0) }
    }
}

/// Comparison of secrets (signatures, tokens, digests) whose time does not depend on where they differ.
public enum ConstantTime {
    public static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}

/// Lower-case hexadecimal, for digests.
public enum Hex {
    public static func string(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// RFC 4648 §5 base64url without padding, for MACs and random tokens (link signatures, receipts,
/// attempt tokens, session ids, CSRF tokens): swift-extras-base64 (already in the graph through
/// jwt-kit) rather than Foundation's base64 plus three `replacingOccurrences`, which were a tenth of
/// the checkout's CPU.
public enum Base64URL {
    public static func string(_ bytes: some Collection<UInt8>) -> String {
        Base64.encodeToString(bytes: bytes, options: [.base64UrlAlphabet, .omitPaddingCharacter])
    }
}
