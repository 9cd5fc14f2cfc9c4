import Crypto
import Foundation

/// Secrets Kassa must read back (webhook signing secrets, TOTP secrets), sealed at rest with
/// AES-GCM under a key derived from `KASSA_SECRET_KEY`, as base64 text.
struct SecretSealer: Sendable {
    let key: SymmetricKey

    struct Unreadable: Error, Equatable {}

    func seal(_ secret: [UInt8]) throws -> String {
        try AES.GCM.seal(secret, using: key).combined!.base64EncodedString()
    }

    func open(_ sealed: String) throws -> [UInt8] {
        guard let data = Data(base64Encoded: sealed) else { throw Unreadable() }
        return Array(try AES.GCM.open(AES.GCM.SealedBox(combined: data), using: key))
    }
}

/// Codes a person reads and types: letters and digits without the look-alikes (no i, l, o, 0,
/// 1), in dash-separated groups of five.
enum ReadableCode {
    static let alphabet = Array("abcdefghjkmnpqrstuvwxyz23456789")

    static func make(length: Int) -> String {
        let letters = (0..<length).map { _ in alphabet[Int.random(in: 0..<alphabet.count)] }
        return stride(from: 0, to: length, by: 5).map { String(letters[$0..<min($0 + 5, length)]) }.joined(separator: "-")
    }

    /// A password shown once to someone who will sign in with it (the demo merchant, an operator).
    static func password() -> String { make(length: 20) }
}
