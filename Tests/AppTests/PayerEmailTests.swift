import Foundation
import KassaTestSupport
import PaymentCore
import Testing

@testable import App

@Suite("Payers' receipts and refund notices, written by the notifications consumer")
struct PayerEmailTests {
    @Test func aPaymentAndEachRefundBecomeOneEmailForThePayerWhileKassaSendsEmail() async throws {
        try await CoreHarness.run { core in
            var (workers, _) = WebhookTests.workers(core)
            let account = try await core.merchant()
            let payments = core.payments()

            // Without email, nothing is queued for payers.
            let before = try await payments.pay(core.checkout(try await core.link(account, amount: 900)))
            try await core.drain(.notifications) { try await workers.notifyPass() }
            #expect(try await core.count("SELECT count(*) FROM payer_emails") == 0)

            workers.emailsPayers = true
            let paid = try await payments.pay(core.checkout(try await core.link(account, amount: 2450)))
            _ = try await payments.refund(accountID: account, paymentID: paid.id, amount: 1000, reason: nil)
            _ = try await payments.refund(accountID: account, paymentID: paid.id, amount: 450, reason: nil)
            var anonymous = core.checkout(try await core.link(account, amount: 700))
            anonymous.email = nil
            let silent = try await payments.pay(anonymous)
            try await core.drain(.notifications) { try await workers.notifyPass() }
            #expect(try await workers.notifyPass() == 0, "a repeated pass reads nothing and writes nothing twice")

            #expect(try await core.count("SELECT count(*) FROM payer_emails WHERE payment_id = \(before.id) OR payment_id = \(silent.id)") == 0)
            #expect(try await core.count("SELECT count(*) FROM payer_emails WHERE payment_id = \(paid.id) AND email = 'payer@example.com'") == 3)
            #expect(
                try await core.count("SELECT count(*) FROM payer_emails WHERE payment_id = \(paid.id) AND kind = 'receipt' AND amount = 2450") == 1)
            #expect(
                try await core.count(
                    "SELECT count(*) FROM payer_emails WHERE payment_id = \(paid.id) AND kind = 'refund' AND amount IN (1000, 450)") == 2)
            #expect(try await core.count("SELECT count(*) FROM payer_emails WHERE sent_at IS NOT NULL") == 0)

            // The merchant's notifications name each refund's own amount.
            #expect(try await core.count("SELECT count(*) FROM notifications WHERE title = 'Refund of €10.00 issued (payment €24.50)'") == 1)
            #expect(try await core.count("SELECT count(*) FROM notifications WHERE title = 'Refund of €4.50 issued (payment €24.50)'") == 1)

            // What the payer reads.
            let refreshed = try #require(try await payments.payment(id: paid.id))
            let receipt = PayerEmailWorker.view(
                kind: "receipt", amount: 2450, payment: refreshed, merchant: "Mira's Roastery", receiptURL: "https://k/r")
            #expect(receipt.heading == "Your receipt from Mira's Roastery: €24.50" && !receipt.refund)
            #expect(receipt.card == "Visa •••• 4242")
            let refund = PayerEmailWorker.view(
                kind: "refund", amount: 1000, payment: refreshed, merchant: "Mira's Roastery", receiptURL: "https://k/r")
            #expect(refund.heading == "Mira's Roastery refunded €10.00 to your card" && refund.paymentAmount == "€24.50")
        }
    }

    @Test func theCheckoutSaysWhatThePayersEmailIsFor() {
        #expect(CheckoutController.emailHint(merchant: "Mira's Roastery", receiptsByEmail: true).hasPrefix("We email your receipt here."))
        #expect(
            CheckoutController.emailHint(merchant: "Mira's Roastery", receiptsByEmail: false)
                == "Shared with Mira's Roastery with your payment, so they can reach you about it.")
    }
}
