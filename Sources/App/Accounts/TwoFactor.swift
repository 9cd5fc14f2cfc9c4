import Crypto
import Foundation
import Logging
import PaymentCore
import PostgresNIO
import RedisClient

/// Two-factor sign-in: TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps) and ten single-use
/// recovery codes. The secret is kept sealed (AES-GCM under a key derived from the server's
/// secret); recovery codes only as SHA-256 digests. A code is accepted once: the step of the last
/// accepted TOTP is kept, and only a later step passes (one step either side of now is allowed
/// for clocks that drift). Between the password and the code, the half-signed-in person holds a
/// random token whose digest keys five minutes in Redis; the session is made only after the code.
struct TwoFactor: Sendable {
    let database: PostgresClient
    let redis: RedisClient
    let sealingKey: SymmetricKey
    let prefix: String
    let logger: Logger
    var clock: @Sendable () -> Date = { Date() }

    static let digits = 6
    static let period: Int64 = 30
    static let recoveryCodeCount = 10

    static func sealingKey(secret: [UInt8]) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: SymmetricKey(data: secret), info: Array("kassa totp secrets v1".utf8), outputByteCount: 32)
    }

    // MARK: TOTP

    /// The code for `secret` at time step `step` (RFC 4226's dynamic truncation).
    static func code(secret: [UInt8], step: Int64) -> String {
        var counter = UInt64(step).bigEndian
        let message = withUnsafeBytes(of: &counter) { Array($0) }
        let mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: secret)))
        let offset = Int(mac[mac.count - 1] & 0x0f)
        let value =
            (UInt32(mac[offset] & 0x7f) << 24) | (UInt32(mac[offset + 1]) << 16) | (UInt32(mac[offset + 2]) << 8) | UInt32(mac[offset + 3])
        let text = String(value % 1_000_000)
        return String(repeating: "0", count: digits - text.count) + text
    }

    static func step(at date: Date) -> Int64 { Int64(date.timeIntervalSince1970) / period }

    static let base32Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")

    /// RFC 4648 base32 without padding, as authenticator apps take secrets.
    static func base32(_ bytes: [UInt8]) -> String {
        var output = ""
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                output.append(base32Alphabet[Int((buffer >> UInt32(bits - 5)) & 31)])
                bits -= 5
            }
        }
        if bits > 0 { output.append(base32Alphabet[Int((buffer << UInt32(5 - bits)) & 31)]) }
        return output
    }

    /// The `otpauth://` address an authenticator app reads from the QR code.
    static func provisioningURI(secret: [UInt8], email: String) -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~@"))
        let label = "Kassa:" + (email.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")
        return "otpauth://totp/\(label)?secret=\(base32(secret))&issuer=Kassa&algorithm=SHA1&digits=\(digits)&period=\(period)"
    }

    // MARK: the user's state

    struct State: Sendable, Equatable {
        var enabled: Bool
        var pending: [UInt8]?
        var recoveryCodesLeft: Int
    }

    func state(userID: String) async throws -> State {
        let rows = try await database.query(
            """
            SELECT totp_enabled_at IS NOT NULL, totp_pending_sealed,
                   (SELECT count(*) FROM recovery_codes r WHERE r.user_id = u.id AND r.used_at IS NULL)
            FROM users u WHERE id = \(userID)
            """,
            logger: logger
        )
        for try await (enabled, pending, left) in rows.decode((Bool, String?, Int64).self) {
            return State(enabled: enabled, pending: try pending.map(open), recoveryCodesLeft: Int(left))
        }
        return State(enabled: false, pending: nil, recoveryCodesLeft: 0)
    }

    func isEnabled(userID: String) async throws -> Bool {
        let rows = try await database.query("SELECT totp_enabled_at IS NOT NULL FROM users WHERE id = \(userID)", logger: logger)
        for try await enabled in rows.decode(Bool.self) { return enabled }
        return false
    }

    /// A new secret waiting for its first code (replacing any earlier one that was never confirmed).
    func start(userID: String) async throws -> [UInt8] {
        let secret = (0..<20).map { _ in UInt8.random(in: 0...255) }
        try await database.query(
            "UPDATE users SET totp_pending_sealed = \(try seal(secret)) WHERE id = \(userID) AND totp_enabled_at IS NULL", logger: logger)
        return secret
    }

    /// Turns two-factor on when `code` is right for the pending secret; returns the recovery
    /// codes, shown once. Nil when the code is wrong or nothing is pending.
    func confirm(userID: String, code: String) async throws -> [String]? {
        guard let pending = try await state(userID: userID).pending, let step = Self.matchingStep(code, secret: pending, at: clock(), after: 0)
        else { return nil }
        let codes = (0..<Self.recoveryCodeCount).map { _ in Self.newRecoveryCode() }
        let confirmed = try await database.transaction(logger: logger) { connection -> Bool in
            let rows = try await connection.query(
                """
                UPDATE users SET totp_secret_sealed = totp_pending_sealed, totp_pending_sealed = NULL, totp_enabled_at = now(),
                    totp_last_step = \(step)
                WHERE id = \(userID) AND totp_enabled_at IS NULL AND totp_pending_sealed IS NOT NULL RETURNING id
                """,
                logger: logger
            )
            var found = false
            for try await _ in rows.decode(String.self) { found = true }
            guard found else { return false }
            try await connection.query("DELETE FROM recovery_codes WHERE user_id = \(userID)", logger: logger)
            try await connection.query(
                "INSERT INTO recovery_codes (user_id, code_hash) SELECT \(userID), unnest(\(codes.map(Self.digest))::text[])", logger: logger)
            return true
        }
        return confirmed ? codes : nil
    }

    /// Checks a TOTP or a recovery code and uses it up; false when wrong or already used.
    func verify(userID: String, code: String) async throws -> Bool {
        let rows = try await database.query(
            "SELECT totp_secret_sealed, totp_last_step FROM users WHERE id = \(userID) AND totp_enabled_at IS NOT NULL", logger: logger)
        var found: (String, Int64)? = nil
        for try await row in rows.decode((String, Int64).self) { found = row }
        guard let (sealed, last) = found else { return false }
        if let step = Self.matchingStep(code, secret: try open(sealed), at: clock(), after: last) {
            // Only one request can move the step forward: a code is never accepted twice.
            let moved = try await database.query(
                "UPDATE users SET totp_last_step = \(step) WHERE id = \(userID) AND totp_last_step < \(step) RETURNING id", logger: logger)
            for try await _ in moved.decode(String.self) { return true }
            return false
        }
        let normalized = Self.normalizeRecoveryCode(code)
        guard normalized.count == 10 else { return false }
        let used = try await database.query(
            """
            UPDATE recovery_codes SET used_at = now() WHERE user_id = \(userID) AND code_hash = \(Self.digest(normalized)) AND used_at IS NULL
            RETURNING user_id
            """,
            logger: logger
        )
        for try await _ in used.decode(String.self) { return true }
        return false
    }

    func disable(userID: String) async throws {
        try await database.transaction(logger: logger) { connection in
            try await connection.query(
                """
                UPDATE users SET totp_secret_sealed = NULL, totp_pending_sealed = NULL, totp_enabled_at = NULL, totp_last_step = 0
                WHERE id = \(userID)
                """,
                logger: logger
            )
            try await connection.query("DELETE FROM recovery_codes WHERE user_id = \(userID)", logger: logger)
        }
    }

    /// The step `code` belongs to, among now and one step either side, later than `after`.
    static func matchingStep(_ code: String, secret: [UInt8], at date: Date, after: Int64) -> Int64? {
        let typed = code.filter { !$0.isWhitespace }
        guard typed.count == digits, typed.allSatisfy(\.isASCII), typed.allSatisfy(\.isNumber) else { return nil }
        let now = step(at: date)
        for candidate in [now, now - 1, now + 1] where candidate > after {
            if ConstantTime.equal(Self.code(secret: secret, step: candidate), typed) { return candidate }
        }
        return nil
    }

    // MARK: recovery codes

    /// Ten letters and digits as `xxxxx-xxxxx` (about 49 bits).
    static func newRecoveryCode() -> String { ReadableCode.make(length: 10) }

    static func normalizeRecoveryCode(_ code: String) -> String {
        code.lowercased().filter { $0 != "-" && !$0.isWhitespace }
    }

    static func digest(_ code: String) -> String { SessionStore.digest(normalizeRecoveryCode(code)) }

    // MARK: between the password and the code

    /// Remembers that `userID` gave the right password; returns the token for its cookie.
    func beginSignIn(userID: String, next: String) async throws -> String {
        // The same kind of secret as a session id.
        let token = SessionStore.newID()
        _ = try await redis.set(key(token), to: userID + "\n" + next, expiresInMilliseconds: 300_000)
        return token
    }

    /// Who gave their password with this token, and where they were going.
    func pendingSignIn(_ token: String?) async throws -> (userID: String, next: String)? {
        guard let token, !token.isEmpty, let value = try await redis.get(key(token)) else { return nil }
        let parts = value.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    func endSignIn(_ token: String) async throws {
        _ = try await redis.send(["DEL", key(token)])
    }

    private func key(_ token: String) -> String {
        prefix + "2fa:" + SessionStore.digest(token)
    }

    private func seal(_ secret: [UInt8]) throws -> String { try SecretSealer(key: sealingKey).seal(secret) }

    private func open(_ sealed: String) throws -> [UInt8] { try SecretSealer(key: sealingKey).open(sealed) }
}
