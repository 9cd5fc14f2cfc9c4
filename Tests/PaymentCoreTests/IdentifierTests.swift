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
