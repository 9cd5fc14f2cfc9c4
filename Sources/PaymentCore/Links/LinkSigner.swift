import Crypto
import Foundation

/// Signs and checks payment-link and receipt URLs (DESIGN.md, Signed payment links).
///
/// `sig` = base64url (no padding) of HMAC-SHA256(key[kid], "v1\n" + id + "\n" + exp). The first
/// key signs, every key verifies, so keys rotate without breaking live links. Checking does no
/// I/O: parse → known kid → signature → expiry, so a forged link costs no database work.
public struct LinkSigner: Sendable {
    public struct Key: Sendable {
        public let id: String
        let key: SymmetricKey

        public init(id: String, secret: [UInt8]) {
            self.id = id
            self.key = SymmetricKey(data: secret)
        }
    }

    /// What a link's query says, in the order it is checked.
    public enum Verdict: Sendable, Equatable {
        case malformed
        case unknownKey
        case badSignature
        case expired(linkID: String)
        case valid(linkID: String, expiresAt: Int64)
    }

    let keys: [Key]

    /// `keys` must not be empty; the first one signs.
    public init(keys: [Key]) {
        precondition(!keys.isEmpty, "at least one link key")
        self.keys = keys
    }

    /// The `exp`, `kid` and `sig` query items for a link.
    public func sign(linkID: LinkID, expiresAt: Int64) -> (exp: String, kid: String, sig: String) {
        let signing = keys[0]
        return (String(expiresAt), signing.id, Self.mac("v1\n\(linkID)\n\(expiresAt)", key: signing.key))
    }

    /// The path and query of a signed link, e.g. `/pay/plink_…?exp=…&kid=…&sig=…`.
    public func path(linkID: LinkID, expiresAt: Int64) -> String {
        let (exp, kid, sig) = sign(linkID: linkID, expiresAt: expiresAt)
        return "/pay/\(linkID)?exp=\(exp)&kid=\(kid)&sig=\(sig)"
    }

    public func verify(linkID id: LinkID, exp: String?, kid: String?, sig: String?, now: Int64) -> Verdict {
        let linkID = id.rawValue
        guard id.isWellFormed, let exp, let kid, let sig, let expiresAt = Int64(exp), expiresAt > 0,
            String(expiresAt) == exp, sig.count == 43
        else { return .malformed }
        guard let key = keys.first(where: { $0.id == kid }) else { return .unknownKey }
        let expected = Self.mac("v1\n\(linkID)\n\(exp)", key: key.key)
        guard ConstantTime.equal(expected, sig) else { return .badSignature }
        guard expiresAt > now else { return .expired(linkID: linkID) }
        return .valid(linkID: linkID, expiresAt: expiresAt)
    }

    // MARK: receipts

    /// `sig` for `/receipts/{payment_id}`: never expires, names no key (every key is tried).
    public func receiptSignature(paymentID: PaymentID) -> String {
        Self.mac("receipt\n\(paymentID)", key: keys[0].key)
    }

    public func receiptPath(paymentID: PaymentID) -> String {
        "/receipts/\(paymentID)?sig=\(receiptSignature(paymentID: paymentID))"
    }

    public func verifyReceipt(paymentID: PaymentID, sig: String?) -> Bool {
        guard let sig, sig.count == 43, paymentID.isWellFormed else { return false }
        var matched = false
        for key in keys {
            // Every key is checked, so the time taken does not say which one matched.
            if ConstantTime.equal(Self.mac("receipt\n\(paymentID)", key: key.key), sig) { matched = true }
        }
        return matched
    }

    // MARK: checkout sessions of payment forms

    /// The query of a signed form session: the form at a set amount (or the payer's choice), for a
    /// realm (or the form's), until `exp`. A session without a realm signs what it signed before realms.
    public func formSessionQuery(formID: FormID, amount: Int64?, expiresAt: Int64, realm: String? = nil) -> String {
        let sig = Self.mac(Self.formSessionMessage(formID.rawValue, amount.map(String.init), String(expiresAt), realm), key: keys[0].key)
        return (amount.map { "amount=\($0)&" } ?? "") + (realm.map { "realm=\($0)&" } ?? "") + "exp=\(expiresAt)&kid=\(keys[0].id)&sig=\(sig)"
    }

    static func formSessionMessage(_ formID: String, _ amount: String?, _ exp: String, _ realm: String?) -> String {
        "form\n\(formID)\n\(amount ?? "")\n\(exp)" + (realm.map { "\nrealm\n\($0)" } ?? "")
    }

    public func verifyFormSession(
        formID id: FormID, amount: String?, exp: String?, kid: String?, sig: String?, now: Int64, realm: String? = nil
    ) -> Verdict {
        let formID = id.rawValue
        guard let exp, let kid, let sig, let expiresAt = Int64(exp), String(expiresAt) == exp, sig.count == 43 else { return .malformed }
        if let amount, Int64(amount).map(String.init) != amount { return .malformed }
        if let realm, !Realm.isValid(realm) { return .malformed }
        guard let key = keys.first(where: { $0.id == kid }) else { return .unknownKey }
        guard ConstantTime.equal(Self.mac(Self.formSessionMessage(formID, amount, exp, realm), key: key.key), sig) else { return .badSignature }
        guard expiresAt > now else { return .expired(linkID: formID) }
        return .valid(linkID: formID, expiresAt: expiresAt)
    }

    // MARK: checkout attempt tokens

    /// A fresh token for one render of a checkout page: a nonce and its MAC, so only tokens this
    /// server rendered are accepted. The token is bound to what is being paid (a link or a form).
    public func attemptToken<Kind>(for subject: TypedID<Kind>) -> String {
        let linkID = subject.rawValue
        let nonce = String(Identifier.make("tok").dropFirst(4))
        return "\(nonce).\(Self.mac("attempt\n\(linkID)\n\(nonce)", key: keys[0].key).prefix(22))"
    }

    public func verifyAttemptToken<Kind>(_ token: String?, for subject: TypedID<Kind>) -> Bool {
        let linkID = subject.rawValue
        guard let token else { return false }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 24, parts[1].count == 22 else { return false }
        var matched = false
        for key in keys where ConstantTime.equal(String(Self.mac("attempt\n\(linkID)\n\(parts[0])", key: key.key).prefix(22)), String(parts[1])) {
            matched = true
        }
        return matched
    }

    // MARK: helpers

    static func mac(_ message: String, key: SymmetricKey) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Array(message.utf8), using: key)
        return code.withUnsafeBytes { Base64URL.string($0) }
    }

}
