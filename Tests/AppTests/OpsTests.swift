import Foundation
import Hummingbird
import HummingbirdTesting
import KassaTestSupport
import PaymentCore
import Testing

@testable import App

@Suite("The operator console: operators, suspension, limits")
struct OpsTests {
    static let declinedCard: [(String, String)] = Browser.goodCard.map { $0.0 == "card_number" ? ($0.0, "4000 0000 0000 0002") : $0 }

    /// An operator made by `kassa operator create` signs in, must turn on two-factor first, sees
    /// a merchant's numbers as its API reports them, sets its limits and suspends it (payers get
    /// 503 and nothing is charged, its key 403 `account_suspended`, refunds still work, its people
    /// see the reason, another merchant is untouched), then resumes it. Merchants get 404 at /ops.
    @Test func anOperatorSuspendsAndResumesAMerchant() async throws {
        let app = try await TestApp.make()
        let operatorEmail = "ops-\(UUID().uuidString.prefix(8).lowercased())@kassa.test"
        var database = app.configuration.database
        database.maximumConnections = 1
        let password = try await DatabaseTools.withClient(database, logger: TestServices.logger) { client in
            try await Operators.create(database: client, email: operatorEmail, name: "Olga Operator", logger: TestServices.logger)
        }
        for taken in [operatorEmail.uppercased(), "not-an-email"] {
            await #expect(throws: Operators.CreateError.self, "\(taken)") {
                try await DatabaseTools.withClient(database, logger: TestServices.logger) { client in
                    try await Operators.create(database: client, email: taken, name: nil, logger: TestServices.logger)
                }
            }
        }
        try await app.run { client in
            let (merchant, key) = try await Browser.merchantWithKey(client, name: "Suspendable Shop")
            let (other, otherKey) = try await Browser.merchantWithKey(client, name: "Innocent Shop")
            let accountID = try #require(try await app.text("SELECT id FROM accounts WHERE name = 'Suspendable Shop'"))
            let link = try await merchant.createLink(uses: 10)
            let otherLink = try await other.createLink(uses: 10)
            let payer = Browser(client)
            #expect(try await payer.pay(link.path).result.status == .seeOther)
            _ = try await payer.pay(link.path, card: Self.declinedCard)

            // Merchants and visitors: no console.
            #expect(try await merchant.get("/ops").status == .notFound)
            #expect(try await Browser(client).get("/ops").status == .notFound)
            #expect(
                try await client.api(.post, "/v1/tokens", json: #"{"email":"\#(operatorEmail)","password":"\#(password)"}"#).status == .unauthorized)

            // The operator: two-factor first.
            let ops = Browser(client)
            let signedIn = try await ops.logIn(email: operatorEmail, password: password)
            #expect(signedIn.location == "/ops")
            let gate = try await ops.get("/ops")
            #expect(gate.status == .seeOther && gate.location == "/settings/security")
            #expect(try await ops.get("/dashboard").location == "/ops")
            #expect(try await ops.get("/settings/security").body.contains("Turn on two-factor sign-in to open the operator console"))
            let enrolling = try await ops.post("/settings/security/totp", [])
            let secret = TwoFactorTests.base32Decode(try #require(Browser.attribute(in: enrolling.body, after: #"data-totp-secret=""#)))
            let confirmed = try await ops.post(
                "/settings/security/totp/confirm", [("code", TwoFactor.code(secret: secret, step: TwoFactor.step(at: Date())))])
            #expect(confirmed.status == .ok)
            let console = try await ops.get("/ops")
            #expect(console.status == .ok)
            #expect(console.body.contains("Suspendable Shop") && console.body.contains("Innocent Shop"))
            #expect(!console.body.contains("Kassa platform"), "the operators' own account is no merchant")
            #expect(console.body.contains("<svg class=\"sparkline\""))
            #expect(try await ops.get("/ops?q=Innocent").body.contains("Suspendable Shop") == false)

            // Its numbers match its API.
            try await app.drain()
            let page = try await ops.get("/ops/merchants/\(accountID)")
            #expect(page.status == .ok)
            let succeeded = try await client.api(.get, "/v1/payments?status=succeeded", key: key).data.count
            let failed = try await client.api(.get, "/v1/payments?status=failed", key: key).data.count
            #expect(succeeded == 1 && failed == 1)
            #expect(page.body.contains(#"<tr data-status="succeeded"><td>succeeded</td><td class="num">\#(succeeded)</td>"#))
            #expect(page.body.contains(#"<tr data-status="failed"><td>failed</td><td class="num">\#(failed)</td>"#))
            #expect(page.body.contains("card_declined") || page.body.contains("insufficient_funds") || page.body.contains("do_not_honor"))
            #expect(page.body.contains("GET /v1/payments") == false, "no API errors yet")

            // Bad input changes nothing.
            let noReason = try await ops.post("/ops/merchants/\(accountID)/suspend", [("reason", "  ")])
            #expect(noReason.status == .unprocessableContent)
            #expect(Browser.fieldError(in: noReason.body, field: "suspend_reason") != nil)
            #expect(try await app.count("SELECT count(*) FROM accounts WHERE suspended_at IS NOT NULL") == 0)
            let badLimits = try await ops.post(
                "/ops/merchants/\(accountID)/limits",
                [
                    ("api_per_minute", "lots"), ("velocity_card_per_hour", "0"), ("velocity_email_per_hour", ""), ("velocity_ip_per_hour", ""),
                    ("reason", ""),
                ])
            #expect(badLimits.status == .unprocessableContent)
            for field in ["api_per_minute", "velocity_card_per_hour", "reason"] {
                #expect(Browser.fieldError(in: badLimits.body, field: field) != nil, "\(field)")
            }
            #expect(try await app.count("SELECT count(*) FROM operator_actions") == 0)
            #expect(try await ops.get("/ops/merchants/acct_nosuchaccount000000000").status == .notFound)

            // Limits, with a reason.
            let limits = try await ops.post(
                "/ops/merchants/\(accountID)/limits",
                [
                    ("api_per_minute", "600"), ("velocity_card_per_hour", "7"), ("velocity_email_per_hour", ""), ("velocity_ip_per_hour", "50"),
                    ("reason", "Raised for their launch"),
                ])
            #expect(limits.status == .seeOther)
            #expect(try await app.count("SELECT api_requests_per_minute FROM accounts WHERE id = \(accountID)") == 600)
            #expect(try await app.count("SELECT velocity_card_per_hour FROM risk_rules WHERE account_id = \(accountID)") == 7)

            // Suspend.
            let reason = "Chargeback rate under review"
            let suspended = try await ops.post("/ops/merchants/\(accountID)/suspend", [("reason", reason)])
            #expect(suspended.status == .seeOther)
            let payments = try await app.count("SELECT count(*) FROM payments WHERE account_id = \(accountID)")
            let refused = try await payer.get(link.path)
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.body.contains("unavailable") && !refused.body.contains(reason))
            #expect(try await payer.pay(link.path).result.status == .serviceUnavailable)
            #expect(try await app.count("SELECT count(*) FROM payments WHERE account_id = \(accountID)") == payments, "nothing charged")
            let keyRefused = try await client.api(.get, "/v1/payments", key: key)
            #expect(keyRefused.status == .forbidden && keyRefused.code == "account_suspended")
            let paid = try #require(try await app.text("SELECT id FROM payments WHERE account_id = \(accountID) AND status = 'succeeded'"))
            let refund = try await client.api(.post, "/v1/payments/\(paid)/refunds", key: key, json: #"{"amount":100}"#)
            #expect(refund.status == .ok || refund.status == .created, "refunds still work: \(refund.text)")
            let banner = try await merchant.get("/dashboard")
            #expect(banner.body.contains("suspended-banner") && banner.body.contains(reason))
            // Another merchant is untouched.
            #expect(try await payer.pay(otherLink.path).result.status == .seeOther)
            #expect(try await client.api(.get, "/v1/payments", key: otherKey).status == .ok)
            #expect(try await other.get("/dashboard").body.contains("suspended-banner") == false)
            // The audit: who and why, for the operator and in the merchant's own log.
            #expect(
                try await app.text("SELECT operator_email || ':' || action || ':' || reason FROM operator_actions ORDER BY seq DESC LIMIT 1")
                    == "\(operatorEmail):suspend:\(reason)")
            #expect(try await app.count("SELECT count(*) FROM audit_log WHERE account_id = \(accountID) AND action = 'account.suspended'") == 1)
            let detail = try await ops.get("/ops/merchants/\(accountID)")
            #expect(detail.body.contains(reason) && detail.body.contains("account_suspended"))

            // Resume.
            let noResumeReason = try await ops.post("/ops/merchants/\(accountID)/resume", [("reason", "")])
            #expect(noResumeReason.status == .unprocessableContent)
            let resumed = try await ops.post("/ops/merchants/\(accountID)/resume", [("reason", "Review done")])
            #expect(resumed.status == .seeOther, "\(resumed.status) \(resumed.body.prefix(3000))")
            #expect(try await payer.get(link.path).status == .ok)
            #expect(try await client.api(.get, "/v1/payments", key: key).status == .ok)
            #expect(try await merchant.get("/dashboard").body.contains("suspended-banner") == false)
            #expect(try await app.count("SELECT count(*) FROM operator_actions WHERE account_id = \(accountID)") == 3)
        }
    }

    @Test func theConsoleQuantilesFollowPrometheus() {
        var window = OpsStats.Window(seconds: 60)
        // 100 checkouts: 90 within 25 ms, 10 within 50–75 ms.
        window.latency[2] = 90
        window.latency[4] = 10
        #expect(window.quantile(0.5).map { abs($0 - 0.0178) < 0.001 } == true)
        #expect(window.quantile(0.99).map { abs($0 - 0.0725) < 0.001 } == true)
        #expect(OpsStats.Window(seconds: 60).quantile(0.5) == nil)
    }
}
