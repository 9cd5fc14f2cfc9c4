import Foundation
import PaymentCore
import Testing

@Suite("Prefixed identifiers")
struct IdentifierTests {
    @Test(arguments: ["acct", "usr", "pay", "plink", "pm", "iss", "re", "evt", "we"])
    func madeIdsHaveTheirPrefixAndShape(prefix: String) {
        let id = Identifier.make(prefix)
        #expect(id.hasPrefix(prefix + "_"))
        #expect(id.count == prefix.count + 25)
        #expect(Identifier.isValid(id, prefix: prefix))
    }

    @Test func idsDoNotRepeat() {
        let ids = Set((0..<10_000).map { _ in Identifier.make("pay") })
        #expect(ids.count == 10_000)
    }

    @Test(arguments: ["pay_short", "acct_AAAAAAAAAAAAAAAAAAAAAAAA", "pay_AAAAAAAAAAAAAAAAAAAAAAA!", "", "pay_"])
    func malformedIdsAreRejected(id: String) {
        #expect(!Identifier.isValid(id, prefix: "pay"))
    }
}

@Suite("Typed ids: one type per kind of thing, the same text on every wire")
struct TypedIDTests {
    @Test func eachKindMakesIdsWithItsOwnPrefix() {
        #expect(PaymentID.make().rawValue.hasPrefix("pay_"))
        #expect(LinkID.make().rawValue.hasPrefix("plink_"))
        #expect(FormID.make().rawValue.hasPrefix("form_"))
        #expect(MethodID.make().rawValue.hasPrefix("pm_"))
        #expect(AccountID.make().rawValue.hasPrefix("acct_"))
        #expect(PaymentID.make().isWellFormed && LinkID.make().isWellFormed && AccountID.make().isWellFormed)
    }

    /// Text from a URL is taken as it comes (it then names nothing); `isWellFormed` tells the shape.
    @Test func anyTextIsAnIdButOnlyTheRightShapeIsWellFormed() {
        #expect(!PaymentID("plink_AAAAAAAAAAAAAAAAAAAAAAAA").isWellFormed)
        #expect(!PaymentID("pay_short").isWellFormed)
        #expect(PaymentID("pay_AAAAAAAAAAAAAAAAAAAAAAAA").isWellFormed)
        #expect(PaymentID("pay_x").description == "pay_x" && "\(LinkID("plink_y"))" == "plink_y")
    }

    /// Sessions and JSON carry an id as the plain string it always was.
    @Test func codableAsAPlainString() throws {
        struct Holder: Codable, Equatable {
            let account: AccountID
            let links: [LinkID]
        }
        let holder = Holder(account: AccountID("acct_1"), links: [LinkID("plink_2")])
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let data = try encoder.encode(holder)
        #expect(String(decoding: data, as: UTF8.self) == #"{"account":"acct_1","links":["plink_2"]}"#)
        #expect(try JSONDecoder().decode(Holder.self, from: data) == holder)
    }
}
