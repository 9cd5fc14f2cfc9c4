import Crypto
import Foundation
import PaymentCore
import Testing

@Suite("Signed payment links, receipts and attempt tokens")
struct LinkSignerTests {
    static let current = LinkSigner.Key(id: "k2", secret: Array(repeating: 2, count: 32))
    static let previous = LinkSigner.Key(id: "k1", secret: Array(repeating: 1, count: 32))
    static let signer = LinkSigner(keys: [current, previous])
    static let link = LinkID("plink_AAAAAAAAAAAAAAAAAAAAAAAA")
    static let now: Int64 = 1_800_000_000

    @Test func signatureIsTheDesignedHMAC() {
        let (exp, kid, sig) = Self.signer.sign(linkID: Self.link, expiresAt: Self.now + 60)
        let mac = HMAC<SHA256>.authenticationCode(
            for: Array("v1\n\(Self.link)\n\(Self.now + 60)".utf8), using: SymmetricKey(data: Array(repeating: UInt8(2), count: 32)))
        let expected = Data(mac).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        #expect(exp == "1800000060")
        #expect(kid == "k2")
        #expect(sig == expected)
        #expect(!sig.contains("="))
    }

    @Test func base64URLMatchesFoundationForEveryLength() {
        for length in 0...66 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 97 &+ 251) }
            let expected = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            #expect(Base64URL.string(bytes) == expected, "length \(length)")
        }
    }

    @Test func aFreshLinkVerifies() {
        let (exp, kid, sig) = Self.signer.sign(linkID: Self.link, expiresAt: Self.now + 60)
        #expect(
            Self.signer.verify(linkID: Self.link, exp: exp, kid: kid, sig: sig, now: Self.now)
                == .valid(linkID: Self.link.rawValue, expiresAt: Self.now + 60))
    }

    @Test func linksSignedWithARetiredButListedKeyStillVerify() {
        let old = LinkSigner(keys: [Self.previous])
        let (exp, kid, sig) = old.sign(linkID: Self.link, expiresAt: Self.now + 60)
        #expect(
            Self.signer.verify(linkID: Self.link, exp: exp, kid: kid, sig: sig, now: Self.now)
                == .valid(linkID: Self.link.rawValue, expiresAt: Self.now + 60))
        // Once the old key is dropped from the list, its links stop working.
        #expect(LinkSigner(keys: [Self.current]).verify(linkID: Self.link, exp: exp, kid: kid, sig: sig, now: Self.now) == .unknownKey)
    }

    @Test func tamperingIsCaughtInTheDesignedOrder() {
        let (exp, kid, sig) = Self.signer.sign(linkID: Self.link, expiresAt: Self.now + 60)
        var flipped = Array(sig)
        flipped[5] = flipped[5] == "A" ? "B" : "A"
        let cases: [(LinkID, String?, String?, String?, LinkSigner.Verdict)] = [
            (Self.link, exp, kid, String(flipped), .badSignature),
            (Self.link, String(Self.now + 999_999), kid, sig, .badSignature),
            (LinkID("plink_BBBBBBBBBBBBBBBBBBBBBBBB"), exp, kid, sig, .badSignature),
            (Self.link, exp, "k9", sig, .unknownKey),
            (Self.link, nil, kid, sig, .malformed),
            (Self.link, exp, nil, sig, .malformed),
            (Self.link, exp, kid, nil, .malformed),
            (Self.link, "0x10", kid, sig, .malformed),
            (Self.link, "+" + exp, kid, sig, .malformed),
            (Self.link, exp, kid, sig + "A", .malformed),
            (LinkID("plink_short"), exp, kid, sig, .malformed),
            (LinkID("pay_AAAAAAAAAAAAAAAAAAAAAAAA"), exp, kid, sig, .malformed),
        ]
        for (link, exp, kid, sig, verdict) in cases {
            #expect(Self.signer.verify(linkID: link, exp: exp, kid: kid, sig: sig, now: Self.now) == verdict, "\(link) \(exp ?? "-") \(kid ?? "-")")
        }
    }

    @Test func anExpiredLinkIsExpiredOnlyOnceItsSignatureHolds() {
        let (exp, kid, sig) = Self.signer.sign(linkID: Self.link, expiresAt: Self.now - 1)
        #expect(Self.signer.verify(linkID: Self.link, exp: exp, kid: kid, sig: sig, now: Self.now) == .expired(linkID: Self.link.rawValue))
        #expect(Self.signer.verify(linkID: Self.link, exp: exp, kid: kid, sig: "A" + sig.dropFirst(), now: Self.now) == .badSignature)
    }

    @Test func receiptsAreSignedPerPayment() {
        let payment = PaymentID("pay_AAAAAAAAAAAAAAAAAAAAAAAA")
        let sig = Self.signer.receiptSignature(paymentID: payment)
        #expect(Self.signer.verifyReceipt(paymentID: payment, sig: sig))
        #expect(!Self.signer.verifyReceipt(paymentID: PaymentID("pay_BBBBBBBBBBBBBBBBBBBBBBBB"), sig: sig))
        #expect(!Self.signer.verifyReceipt(paymentID: payment, sig: nil))
        #expect(!Self.signer.verifyReceipt(paymentID: payment, sig: String(sig.dropLast()) + "x"))
        #expect(LinkSigner(keys: [Self.previous, Self.current]).verifyReceipt(paymentID: payment, sig: sig), "after a rotation")
        #expect(Self.signer.receiptPath(paymentID: payment) == "/receipts/\(payment)?sig=\(sig)")
    }

    @Test func attemptTokensAreBoundToTheirLink() {
        let token = Self.signer.attemptToken(for: Self.link)
        #expect(Self.signer.verifyAttemptToken(token, for: Self.link))
        #expect(!Self.signer.verifyAttemptToken(token, for: LinkID("plink_BBBBBBBBBBBBBBBBBBBBBBBB")))
        #expect(!Self.signer.verifyAttemptToken("made.up", for: Self.link))
        #expect(!Self.signer.verifyAttemptToken(nil, for: Self.link))
        #expect(Self.signer.attemptToken(for: Self.link) != token)
    }
}
