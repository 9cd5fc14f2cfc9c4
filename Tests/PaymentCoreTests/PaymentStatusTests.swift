import PaymentCore
import Testing

@Suite("Payment state machine")
struct PaymentStatusTests {
    /// DESIGN.md's transitions, spelled out once more so a change to either side is noticed, with
    /// issue 19's manual capture (processing → authorized → succeeded or canceled).
    static let legal: Set<String> = [
        "requires_payment>processing", "requires_payment>canceled", "requires_payment>expired",
        "processing>succeeded", "processing>failed", "processing>authorized", "authorized>succeeded", "authorized>canceled",
        "succeeded>partially_refunded", "succeeded>refunded",
        "partially_refunded>partially_refunded", "partially_refunded>refunded",
    ]

    static let pairs = PaymentStatus.allCases.flatMap { from in PaymentStatus.allCases.map { (from, $0) } }

    @Test(arguments: pairs)
    func onlyDesignTransitionsAreAllowed(from: PaymentStatus, to: PaymentStatus) {
        #expect(from.canMove(to: to) == Self.legal.contains("\(from.rawValue)>\(to.rawValue)"))
    }

    @Test func finalStatesGoNowhere() {
        #expect(PaymentStatus.allCases.filter(\.isFinal) == [.failed, .canceled, .expired, .refunded])
        #expect(PaymentStatus.allCases.filter(\.isCaptured) == [.succeeded, .partiallyRefunded, .refunded])
        #expect(PaymentStatus.allCases.allSatisfy { !$0.label.isEmpty })
    }
}
