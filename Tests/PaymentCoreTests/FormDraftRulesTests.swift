import Foundation
import PaymentCore
import Testing

/// A payment form's rules, without a database: every broken rule is named on its field, at once.
@Suite("Payment form rules")
struct FormDraftRulesTests {
    static func draft(
        title: String = "Donations", currency: Currency = .eur, amount: Int64? = 1000, minimum: Int64? = nil, maximum: Int64? = nil,
        fields: [FormField] = [], origins: [String] = [], button: String = "Pay", maxUses: Int? = nil
    ) -> PaymentForms.Draft {
        PaymentForms.Draft(
            title: title, description: "", currency: currency, amount: amount, minimum: minimum, maximum: maximum, fields: fields,
            allowedOrigins: origins, redirectURL: nil, buttonLabel: button, brandColor: "#1f5f8b", maxUses: maxUses, expiresAt: nil
        )
    }

    @Test func aGoodDraftBreaksNothing() {
        #expect(PaymentForms.problems(Self.draft(), accepted: [.eur], maximumAmount: 5000).isEmpty)
        #expect(PaymentForms.problems(Self.draft(amount: nil, minimum: 100, maximum: 5000), accepted: [.eur], maximumAmount: 5000).isEmpty)
    }

    @Test func aDraftBreakingEveryRuleHearsOfEach() {
        let draft = Self.draft(
            title: "  ", currency: .usd, amount: nil, minimum: 900, maximum: 600_000,
            fields: [
                FormField(key: "f1", label: String(repeating: "l", count: 61), kind: .text, required: false),
                FormField(key: "f2", label: "Size", kind: .select, required: true),
            ],
            origins: (0..<21).map { "https://shop\($0).example" }, button: "", maxUses: 0
        )
        let problems = PaymentForms.problems(draft, accepted: [.eur], maximumAmount: 500_000)
        #expect(problems.map(\.field) == ["title", "currency", "max_amount", "fields", "fields", "allowed_origins", "button_label", "max_uses"])
        #expect(problems.first { $0.field == "currency" }?.code == "no_payment_method_for_currency")
    }

    @Test func theLargestAmountIsNeverBelowTheSmallest() {
        let problems = PaymentForms.problems(Self.draft(amount: nil, minimum: 900, maximum: 500), accepted: [.eur], maximumAmount: 5000)
        #expect(problems.map(\.message) == ["The largest amount must not be below the smallest."])
    }
}
