import Foundation
import Hummingbird
import HummingbirdTesting
import KassaTestSupport
import Logging
import Testing

@testable import App

@Suite("The /v1 API: keys, resources, errors, idempotency, rate limits, the spec")
struct APITests {
    @Test func issuersArePublicAndEveryResponseNamesTheVersion() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let response = try await client.api(.get, "/v1/issuers")
            #expect(response.status == .ok)
            #expect(response.headers[.init("Kassa-Version")!] == APIErrorMiddleware.version)
            let visa = try #require(response.data.first { $0["id"] as? String == "iss_test_visa" })
            #expect(Set(visa.keys) == ["id", "name", "network", "currencies"])
            #expect(visa["network"] as? String == "visa")
            #expect((visa["currencies"] as? [String])?.contains("EUR") == true)
            #expect(response.json["has_more"] as? Bool == false)
            let missing = try await client.api(.get, "/v1/nothing-here")
            #expect(missing.status == .notFound)
            #expect(missing.code == "route_missing")
            // A route that exists, asked with a method it does not take: 405 naming the ones it does.
            for (method, path, allow) in [
                (HTTPRequest.Method.delete, "/v1/issuers", "GET"), (.put, "/v1/payment_links/plink_AAAAAAAAAAAAAAAAAAAAAAAA", "GET"),
            ] {
                let response = try await client.api(method, path)
                #expect(response.status == .methodNotAllowed, "\(method) \(path)")
                #expect(response.code == "method_not_allowed")
                #expect(response.headers[.allow] == allow)
            }
            let trace = try await client.execute(uri: "/v1/payments", method: .init("TRACE")!, headers: [:], body: nil)
            #expect(trace.status == .methodNotAllowed)
            #expect(trace.headers[.allow] == "GET")
        }
    }

    @Test func keysAreCheckedAndScopesEnforced() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let (merchant, secret) = try await Browser.merchantWithKey(client)
            #expect(secret.hasPrefix("sk_"))
            #expect(try await client.api(.get, "/v1/payments", key: secret).status == .ok)

            for bad in [nil, "sk_" + String(repeating: "x", count: 40), Browser.tampered(secret), "pk_nothing"] {
                let response = try await client.api(.get, "/v1/payments", key: bad)
                #expect(response.status == .unauthorized, "\(bad ?? "no key")")
                #expect(response.code == "api_key_invalid")
                #expect(response.headers[.wwwAuthenticate] == "Bearer")
            }

            // A key limited to reading payments cannot create links.
            let reader = try await merchant.createAPIKey(name: "Reporting", scopes: ["payments:read"])
            #expect(try await client.api(.get, "/v1/payments", key: reader).status == .ok)
            let refused = try await client.api(.post, "/v1/payment_links", key: reader, json: #"{"amount":100,"currency":"EUR","description":"x"}"#)
            #expect(refused.status == .forbidden)
            #expect(refused.code == "scope_missing")

            // A publishable key may only create links.
            let publishable = try await merchant.createAPIKey(name: "Website", kind: "publishable")
            #expect(publishable.hasPrefix("pk_"))
            #expect(
                try await client.api(.post, "/v1/payment_links", key: publishable, json: #"{"amount":100,"currency":"EUR","description":"x"}"#).status
                    == .created)
            #expect(try await client.api(.get, "/v1/payments", key: publishable).status == .forbidden)

            // The keys page shows the prefix, never the secret; revoking stops the key at once.
            let page = try await merchant.get("/developers/keys")
            #expect(!page.body.contains(secret))
            #expect(page.body.contains(String(secret.prefix(12)) + "…"))
            let keyID = try #require(Browser.attribute(in: page.body, after: #"action="/developers/keys/"#)).prefix(28)
            #expect(try await merchant.post("/developers/keys/\(keyID)/revoke", []).status == .seeOther)
            let revokedKey = try await TestServices.withConnection(to: app.databaseName) { connection in
                let rows = try await connection.query("SELECT lookup FROM api_keys WHERE revoked_at IS NOT NULL", logger: TestServices.logger)
                for try await lookup in rows.decode(String.self) { return lookup }
                return ""
            }
            let all = [secret, reader, publishable]
            let revoked = try #require(all.first { $0.hasPrefix(revokedKey) })
            #expect(try await client.api(.get, "/v1/payments", key: revoked).status == .unauthorized)
        }
    }

    @Test func anExpiredKeyIsRefusedAndARolledKeyHandsOver() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let (merchant, secret) = try await Browser.merchantWithKey(client)
            try await app.execute("UPDATE api_keys SET expires_at = now() - interval '1 second'")
            #expect(try await client.api(.get, "/v1/payments", key: secret).status == .unauthorized)

            let fresh = try await merchant.createAPIKey(name: "Rolling")
            let page = try await merchant.get("/developers/keys")
            let id = try #require(Browser.attribute(in: page.body, after: #"<form method="post" action="/developers/keys/"#)).prefix(28)
            let rolled = try await merchant.post("/developers/keys/\(id)/roll", [("grace", "0")])
            #expect(rolled.status == .created)
            let replacement = try #require(Browser.attribute(in: rolled.body, after: #"id="new-secret" type="text" readonly value=""#))
            #expect(try await client.api(.get, "/v1/payments", key: fresh).status == .unauthorized)
            #expect(try await client.api(.get, "/v1/payments", key: replacement).status == .ok)
        }
    }

    @Test func badKeyFormsAreShownNextToTheField() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            _ = try await merchant.get("/developers/keys")
            for (fields, field) in [
                ([("name", "")], "name"), ([("name", "x"), ("scopes", "everything")], "scopes"),
                ([("name", "x"), ("expires_in_days", "7")], "expires_in_days"),
            ] {
                let page = try await merchant.post("/developers/keys", fields)
                #expect(page.status == .unprocessableContent)
                #expect(page.body.contains(#"id="\#(field)-error""#))
            }
            #expect(try await app.count("SELECT count(*) FROM api_keys") == 0)
        }
    }

    @Test func paymentMethodsThroughTheAPI() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let (_, key) = try await Browser.merchantWithKey(client)
            let created = try await client.api(.post, "/v1/payment_methods", key: key, json: #"{"issuer":"iss_sakura","currencies":["jpy"]}"#)
            #expect(created.status == .created)
            #expect(created.json["object"] as? String == "payment_method")
            #expect(created.json["currencies"] as? [String] == ["JPY"])
            let id = try #require(created.json["id"] as? String)
            #expect(id.hasPrefix("pm_"))

            let cases: [(String, HTTPResponse.Status, String, String?)] = [
                (#"{"issuer":"iss_sakura","currencies":["USD"]}"#, .unprocessableContent, "payment_method_exists", "issuer"),
                (#"{"issuer":"iss_liberty_national","currencies":["EUR"]}"#, .unprocessableContent, "currency_not_supported", "currencies"),
                (#"{"issuer":"iss_nope","currencies":["EUR"]}"#, .unprocessableContent, "issuer_invalid", "issuer"),
                (#"{"issuer":"iss_thames","currencies":["GBP"],"colour":"red"}"#, .badRequest, "parameter_unknown", "colour"),
                (#"{"issuer":"iss_thames","currencies":"GBP"}"#, .badRequest, "parameter_invalid", "currencies"),
                (#"{"issuer":7,"currencies":["GBP"]}"#, .badRequest, "parameter_invalid", "issuer"),
                (#"{"currencies":["GBP"]}"#, .badRequest, "parameter_missing", "issuer"),
                (#"{"issuer":"iss_thames""#, .badRequest, "body_invalid", nil),
                (#"["iss_thames"]"#, .badRequest, "body_invalid", nil),
            ]
            for (body, status, code, param) in cases {
                let response = try await client.api(.post, "/v1/payment_methods", key: key, json: body)
                #expect(response.status == status, "\(body)")
                #expect(response.code == code, "\(body)")
                #expect(response.param == param, "\(body)")
                #expect(response.error["type"] as? String != nil && response.error["message"] as? String != nil)
            }
            let updated = try await client.api(.post, "/v1/payment_methods/\(id)", key: key, json: #"{"currencies":["USD","JPY"]}"#)
            #expect(updated.json["currencies"] as? [String] == ["JPY", "USD"])
            #expect(try await client.api(.get, "/v1/payment_methods", key: key).data.count == 3)
            #expect(try await client.api(.delete, "/v1/payment_methods/\(id)", key: key).json["deleted"] as? Bool == true)
            #expect(try await client.api(.delete, "/v1/payment_methods/\(id)", key: key).status == .notFound)
        }
    }

    @Test func linksPaymentsRefundsAndEventsThroughTheAPI() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let (_, key) = try await Browser.merchantWithKey(client, name: "Shape Check")
            // setup: a link made by the API, paid in a browser
            let link = try await client.api(
                .post, "/v1/payment_links", key: key, json: #"{"amount":1999,"currency":"eur","description":"Beans","expires_in":3600,"max_uses":3}"#
            )
            #expect(link.status == .created)
            #expect(
                Set(link.json.keys).isSuperset(of: [
                    "id", "object", "url", "amount", "currency", "description", "status", "expires_at", "max_uses", "uses", "created_at",
                ]))
            #expect(link.json["currency"] as? String == "EUR")
            #expect(link.json["status"] as? String == "active")
            let linkID = try #require(link.json["id"] as? String)
            let url = try #require(link.json["url"] as? String)
            // The URL reads the same in the raw JSON: a plain "&", so a copy from a terminal works.
            #expect(link.text.contains(url.replacingOccurrences(of: "/", with: "\\/")) || link.text.contains(url))
            #expect(!link.text.contains("\\u0026") && url.contains("&"))
            let path = String(url.dropFirst("http://127.0.0.1:8080".count))
            let (_, paid) = try await Browser(client).pay(path)
            #expect(paid.status == .seeOther)

            // payments
            let payments = try await client.api(.get, "/v1/payments?payment_link=\(linkID)", key: key)
            #expect(payments.data.count == 1)
            let payment = try #require(payments.data.first)
            #expect(payment["object"] as? String == "payment")
            #expect(payment["status"] as? String == "succeeded")
            #expect(payment["amount"] as? Int == 1999)
            #expect(payment["amount_refunded"] as? Int == 0)
            #expect(payment["payment_link"] as? String == linkID)
            #expect((payment["card"] as? [String: Any])?["last4"] as? String == "4242")
            #expect(payment["failure_code"] is NSNull)
            let paymentID = try #require(payment["id"] as? String)
            #expect(try await client.api(.get, "/v1/payments/\(paymentID)", key: key).json["id"] as? String == paymentID)
            #expect(try await client.api(.get, "/v1/payments/pay_AAAAAAAAAAAAAAAAAAAAAAAA", key: key).code == "resource_missing")

            // refunds
            let refund = try await client.api(.post, "/v1/payments/\(paymentID)/refunds", key: key, json: #"{"amount":500,"reason":"late"}"#)
            #expect(refund.status == .created)
            #expect(refund.json["object"] as? String == "refund")
            #expect(refund.json["payment"] as? String == paymentID)
            #expect(refund.json["amount"] as? Int == 500)
            #expect(refund.json["status"] as? String == "succeeded")
            let tooMuch = try await client.api(.post, "/v1/payments/\(paymentID)/refunds", key: key, json: #"{"amount":1500}"#)
            #expect(tooMuch.status == .unprocessableContent)
            #expect(tooMuch.code == "refund_exceeds_captured")
            #expect(try await client.api(.post, "/v1/payments/\(paymentID)/refunds", key: key, json: #"{"amount":"5"}"#).param == "amount")
            #expect(try await client.api(.get, "/v1/payments/\(paymentID)/refunds", key: key).data.count == 1)
            #expect(try await client.api(.get, "/v1/payments/\(paymentID)", key: key).json["status"] as? String == "partially_refunded")

            // events: the transaction log
            let events = try await client.api(.get, "/v1/events?limit=100", key: key)
            let types = events.data.compactMap { $0["type"] as? String }
            #expect(types == ["payment.refunded", "payment.succeeded", "payment.processing", "payment.created"])
            let newest = try #require(events.data.first)
            #expect(((newest["data"] as? [String: Any])?["object"] as? [String: Any])?["amount"] as? Int == 500)
            #expect(try await client.api(.get, "/v1/events?type=payment.succeeded", key: key).data.count == 1)

            // revoke
            let revoked = try await client.api(.post, "/v1/payment_links/\(linkID)/revoke", key: key)
            #expect(revoked.json["status"] as? String == "revoked")
        }
    }

    @Test func badLinkRequestsNameTheParameter() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let (_, key) = try await Browser.merchantWithKey(client)
            let cases: [(String, HTTPResponse.Status, String, String?)] = [
                (#"{"amount":100,"currency":"GBP","description":"x"}"#, .unprocessableContent, "no_payment_method_for_currency", "currency"),
                (#"{"amount":100,"currency":"XXX","description":"x"}"#, .badRequest, "parameter_invalid", "currency"),
                (#"{"amount":19.99,"currency":"EUR","description":"x"}"#, .badRequest, "parameter_invalid", "amount"),
                (#"{"amount":0,"currency":"EUR","description":"x"}"#, .badRequest, "parameter_invalid", "amount"),
                (#"{"amount":100000000,"currency":"EUR","description":"x"}"#, .badRequest, "parameter_invalid", "amount"),
                (#"{"amount":100,"currency":"EUR"}"#, .badRequest, "parameter_missing", "description"),
                (#"{"amount":100,"currency":"EUR","description":"nul\u0000byte"}"#, .badRequest, "parameter_invalid", "description"),
                (#"{"amount":100,"currency":"EUR","description":"x","expires_in":60}"#, .badRequest, "parameter_invalid", "expires_in"),
                (#"{"amount":100,"currency":"EUR","description":"x","max_uses":0}"#, .badRequest, "parameter_invalid", "max_uses"),
                (
                    #"{"amount":100,"currency":"EUR","description":"x","payment_methods":["pm_AAAAAAAAAAAAAAAAAAAAAAAA"]}"#, .unprocessableContent,
                    "payment_method_invalid", "payment_methods"
                ),
            ]
            for (body, status, code, param) in cases {
                let response = try await client.api(.post, "/v1/payment_links", key: key, json: body)
                #expect(response.status == status, "\(body)")
                #expect(response.code == code, "\(body)")
                #expect(response.param == param, "\(body)")
            }
            #expect(try await client.api(.get, "/v1/payment_links?limit=0", key: key).param == "limit")
            #expect(try await client.api(.get, "/v1/payment_links?starting_after=nope", key: key).param == "starting_after")
            #expect(try await client.api(.get, "/v1/payments?status=lost", key: key).param == "status")
            #expect(try await client.api(.get, "/v1/events?type=a%00b", key: key).param == "type")
            // A type Kassa never writes is a mistake to report, not an empty list.
            let unknown = try await client.api(.get, "/v1/events?type=payment.teleported", key: key)
            #expect(unknown.status == .badRequest && unknown.param == "type")
            #expect(try await app.count("SELECT count(*) FROM payment_links") == 0)
        }
    }

    @Test func listsPaginateWithStartingAfter() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let (_, key) = try await Browser.merchantWithKey(client)
            for index in 0..<5 {
                _ = try await client.api(
                    .post, "/v1/payment_links", key: key, json: #"{"amount":\#(100 + index),"currency":"EUR","description":"n\#(index)"}"#)
            }
            let first = try await client.api(.get, "/v1/payment_links?limit=2", key: key)
            #expect(first.data.compactMap { $0["amount"] as? Int } == [104, 103])
            #expect(first.json["has_more"] as? Bool == true)
            let after = try #require(first.data.last?["id"] as? String)
            let second = try await client.api(.get, "/v1/payment_links?limit=3&starting_after=\(after)", key: key)
            #expect(second.data.compactMap { $0["amount"] as? Int } == [102, 101, 100])
            #expect(second.json["has_more"] as? Bool == false)
        }
    }

    @Test func idempotencyKeysReplayRefuseAndSerialise() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let (_, key) = try await Browser.merchantWithKey(client)
            let body = #"{"amount":700,"currency":"EUR","description":"Once"}"#
            let first = try await client.api(.post, "/v1/payment_links", key: key, json: body, idempotencyKey: "order-1")
            let again = try await client.api(.post, "/v1/payment_links", key: key, json: body, idempotencyKey: "order-1")
            #expect(first.status == .created)
            #expect(again.status == .created)
            #expect(again.text == first.text)
            #expect(again.headers[.init("Idempotent-Replayed")!] == "true")
            #expect(first.headers[.init("Idempotent-Replayed")!] == nil)
            let other = try await client.api(
                .post, "/v1/payment_links", key: key, json: #"{"amount":701,"currency":"EUR","description":"Once"}"#, idempotencyKey: "order-1")
            #expect(other.status == .unprocessableContent)
            #expect(other.code == "idempotency_key_reused")
            #expect(try await app.count("SELECT count(*) FROM payment_links") == 1)

            // A refused request changed nothing, so (as with Stripe) its key stays free for the corrected retry.
            let bad = #"{"amount":-1,"currency":"EUR","description":"x"}"#
            let refused = try await client.api(.post, "/v1/payment_links", key: key, json: bad, idempotencyKey: "order-2")
            #expect(refused.status == .badRequest)
            let corrected = try await client.api(
                .post, "/v1/payment_links", key: key, json: #"{"amount":1,"currency":"EUR","description":"x"}"#, idempotencyKey: "order-2")
            #expect(corrected.status == .created)
            #expect(corrected.headers[.init("Idempotent-Replayed")!] == nil)
            #expect(
                try await client.api(.post, "/v1/payment_links", key: key, json: body, idempotencyKey: String(repeating: "k", count: 300)).param
                    == "Idempotency-Key")

            // Two requests started together with one key: one link, the other waits its turn (409) or replays.
            let results = try await withThrowingTaskGroup(of: APIResponse.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        try await client.api(
                            .post, "/v1/payment_links", key: key, json: #"{"amount":900,"currency":"EUR","description":"Race"}"#,
                            idempotencyKey: "race")
                    }
                }
                return try await group.reduce(into: [APIResponse]()) { $0.append($1) }
            }
            #expect(results.filter { $0.status == .created }.count >= 1)
            #expect(results.allSatisfy { $0.status == .created || ($0.status == .conflict && $0.code == "idempotency_key_in_use") })
            #expect(try await app.count("SELECT count(*) FROM payment_links WHERE description = 'Race'") == 1)
        }
    }

    /// A record answers only the API key that made it, and only once that key may do the thing:
    /// a publishable key, a read-only key or another full key of the account sending the same
    /// Idempotency-Key and body never get the stored answer (here a webhook endpoint's secret or a
    /// refund). The stored answers are sealed: no secret sits in the table in clear.
    @Test func idempotentReplaysBelongToTheirKeyAndItsScopes() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let (merchant, key) = try await Browser.merchantWithKey(client)
            let publishable = try await merchant.createAPIKey(name: "Shop page", kind: "publishable")
            let readOnly = try await merchant.createAPIKey(name: "Reports", scopes: ["payments:read", "webhook_endpoints:read"])
            let otherFull = try await merchant.createAPIKey(name: "Second backend")

            let hook = #"{"url":"http://127.0.0.1:9/hook","events":["payment.succeeded"]}"#
            let created = try await client.api(.post, "/v1/webhook_endpoints", key: key, json: hook, idempotencyKey: "hook-1")
            #expect(created.status == .created)
            let secret = try #require(created.json["secret"] as? String)
            #expect(secret.hasPrefix("whsec_"))

            for (other, status, code) in [
                (publishable, HTTPResponse.Status.forbidden, "scope_missing"), (readOnly, .forbidden, "scope_missing"),
                (otherFull, .unprocessableContent, "idempotency_key_reused"),
            ] {
                let answer = try await client.api(.post, "/v1/webhook_endpoints", key: other, json: hook, idempotencyKey: "hook-1")
                #expect(answer.status == status)
                #expect(answer.code == code)
                #expect(!answer.text.contains("whsec_"))
                #expect(answer.headers[.init("Idempotent-Replayed")!] == nil)
            }
            // Its own key still gets its answer back, secret included.
            let replay = try await client.api(.post, "/v1/webhook_endpoints", key: key, json: hook, idempotencyKey: "hook-1")
            #expect(replay.headers[.init("Idempotent-Replayed")!] == "true")
            #expect(replay.text == created.text)
            #expect(try await app.count("SELECT count(*) FROM webhook_endpoints") == 1)

            // A refund made with one key is not another key's to see, or to repeat.
            let link = try await merchant.createLink(amount: "25.00")
            _ = try await Browser(client).pay(link.path)
            let paymentID = try #require(try await client.api(.get, "/v1/payments", key: key).data.first?["id"] as? String)
            let refund = #"{"amount":500}"#
            let refunded = try await client.api(.post, "/v1/payments/\(paymentID)/refunds", key: key, json: refund, idempotencyKey: "refund-1")
            #expect(refunded.status == .created)
            for other in [publishable, readOnly] {
                let answer = try await client.api(.post, "/v1/payments/\(paymentID)/refunds", key: other, json: refund, idempotencyKey: "refund-1")
                #expect(answer.status == .forbidden)
                #expect(answer.code == "scope_missing")
            }
            #expect(try await app.count("SELECT count(*) FROM refunds") == 1)

            // Sealed: nothing readable in the table, and no clear body at all.
            #expect(try await app.count("SELECT count(*) FROM idempotency_keys WHERE response_sealed IS NOT NULL") == 2)
            #expect(
                try await app.count(
                    "SELECT count(*) FROM idempotency_keys WHERE response_body IS NOT NULL OR position(convert_to('whsec_', 'UTF8') IN response_sealed) > 0"
                ) == 0)
        }
    }

    /// A publishable key is public: with a limit set on the keys page, the links and sessions it
    /// asks for stay under it (in whole units of their currency); secret keys are not limited. A
    /// bad limit is shown next to its field and changes nothing.
    @Test func publishableKeysStayWithinTheMerchantsLimit() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let (merchant, key) = try await Browser.merchantWithKey(client)
            let publishable = try await merchant.createAPIKey(name: "Shop page", kind: "publishable")
            let big = #"{"amount":90000,"currency":"EUR","description":"Big"}"#
            #expect(try await client.api(.post, "/v1/payment_links", key: publishable, json: big).status == .created, "no limit by default")

            _ = try await merchant.get("/developers/keys")
            let refused = try await merchant.post("/developers/keys/publishable-limit", [("publishable_limit", "-5")])
            #expect(refused.status == .unprocessableContent)
            #expect(refused.body.contains(#"<p class="field-error" id="publishable_limit-error">"#))
            #expect(try await app.count("SELECT count(*) FROM accounts WHERE publishable_limit IS NOT NULL") == 0)
            _ = try await merchant.get("/developers/keys")
            #expect(try await merchant.post("/developers/keys/publishable-limit", [("publishable_limit", "500")]).status == .seeOther)
            #expect(
                try await merchant.get("/developers/keys").body.contains(
                    #"name="publishable_limit" type="number" min="1" step="1" inputmode="numeric" value="500""#))

            let over = try await client.api(
                .post, "/v1/payment_links", key: publishable, json: #"{"amount":50001,"currency":"EUR","description":"x"}"#)
            #expect(over.status == .unprocessableContent)
            #expect(over.code == "amount_above_publishable_limit")
            #expect(over.message?.contains("€500.00") == true)
            #expect(
                try await client.api(.post, "/v1/payment_links", key: publishable, json: #"{"amount":50000,"currency":"EUR","description":"x"}"#)
                    .status == .created)
            #expect(try await client.api(.post, "/v1/payment_links", key: key, json: big).status == .created, "secret keys are not limited")
            #expect(try await app.count("SELECT count(*) FROM payment_links") == 3)
        }
    }

    @Test func idempotencyHoldsAcrossTwoServerProcesses() async throws {
        // Two applications on one database: a key used on one is replayed by the other.
        let first = try await TestApp.make()
        let secondConfiguration = {
            var configuration = first.configuration
            configuration.redisKeyPrefix += "b:"
            return configuration
        }()
        try await first.run { client in
            let (_, key) = try await Browser.merchantWithKey(client)
            let body = #"{"amount":300,"currency":"EUR","description":"Twice"}"#
            let original = try await client.api(.post, "/v1/payment_links", key: key, json: body, idempotencyKey: "cross")
            let other = try await buildApplication(configuration: secondConfiguration, logger: Logger(label: "second"))
            try await other.test(.router) { second in
                let replay = try await second.api(.post, "/v1/payment_links", key: key, json: body, idempotencyKey: "cross")
                #expect(replay.headers[.init("Idempotent-Replayed")!] == "true")
                #expect(replay.text == original.text)
            }
            #expect(try await first.count("SELECT count(*) FROM payment_links") == 1)
        }
    }

    @Test func rateLimitsArePerKeyAndPerAccount() async throws {
        var limits = AppConfiguration.RateLimitSettings.defaults
        limits.apiPerKey = RateLimit(limit: 3, windowSeconds: 60)
        let app = try await TestApp.make(rateLimits: limits)
        try await app.run { client in
            let (_, noisy) = try await Browser.merchantWithKey(client, name: "Noisy Partner")
            let (quietMerchant, quiet) = try await Browser.merchantWithKey(client, name: "Quiet Partner")
            var last: APIResponse? = nil
            for _ in 0..<4 { last = try await client.api(.get, "/v1/payments", key: noisy) }
            let limited = try #require(last)
            #expect(limited.status == .tooManyRequests)
            #expect(limited.code == "rate_limited")
            #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 > 0)
            #expect(limited.headers[.init("RateLimit-Limit")!] == "3")
            #expect(limited.headers[.init("RateLimit-Remaining")!] == "0")

            // The quiet partner's budget is untouched.
            let fine = try await client.api(.get, "/v1/payments", key: quiet)
            #expect(fine.status == .ok)
            #expect(fine.headers[.init("RateLimit-Remaining")!] == "2")

            _ = quietMerchant
            // An account can be given its own, smaller budget across its keys.
            let (cappedMerchant, capped) = try await Browser.merchantWithKey(client, name: "Capped Partner")
            let second = try await cappedMerchant.createAPIKey(name: "Second")
            try await app.execute("UPDATE accounts SET api_requests_per_minute = 2 WHERE name = 'Capped Partner'")
            #expect(try await client.api(.get, "/v1/payments", key: capped).status == .ok)
            #expect(try await client.api(.get, "/v1/payments", key: second).status == .ok)
            #expect(try await client.api(.get, "/v1/payments", key: second).status == .tooManyRequests)
        }
    }

    /// Seed 004 writes `POST /users {username, email, date, password}`: created with Location,
    /// shown back by /v1/users/me, and the token and payment-method flow works on it. A bad
    /// username or date is named as the parameter and creates nothing; a username is unique
    /// whatever its case.
    /// The spec's promise: an optional field sent as `null` is the same as leaving it out (a link
    /// of one use for a week, a refund of all that is left, a user with no declared date), while
    /// `null` for a required field is refused as missing.
    @Test func nullIsTheSameAsLeavingAFieldOut() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let (_, key) = try await Browser.merchantWithKey(client)
            let link = try await client.api(
                .post, "/v1/payment_links", key: key,
                json:
                    #"{"amount":100,"currency":"EUR","description":"x","expires_in":null,"max_uses":null,"payment_methods":null,"realm":null,"capture_method":null}"#
            )
            #expect(link.status == .created)
            #expect(link.json["max_uses"] as? Int == 1)
            #expect(link.json["capture_method"] as? String == "automatic")
            #expect(link.json["realm"] is NSNull)
            let missing = try await client.api(.post, "/v1/payment_links", key: key, json: #"{"amount":null,"currency":"EUR","description":"x"}"#)
            #expect(missing.status == .badRequest && missing.code == "parameter_missing" && missing.param == "amount")
            let user = try await client.api(
                .post, "/v1/users",
                json: #"{"username":null,"name":null,"email":"\#(AccountsTests.uniqueEmail())","date":null,"password":"a long enough passphrase"}"#)
            #expect(user.status == .created)
            #expect(user.json["date"] is NSNull && user.json["username"] is NSNull)
        }
    }

    @Test func theSeedsOwnUserShape() async throws {
        let app = try await TestApp.make(rateLimits: .defaults { $0.signupPerIP = .init(limit: 100, windowSeconds: 3600) })
        try await app.run { client in
            let email = AccountsTests.uniqueEmail("ana")
            let password = "a long enough passphrase"
            let username = "ana.k" + String(email.prefix(6).filter(\.isLetter))
            let created = try await client.api(
                .post, "/v1/users", json: #"{"username":"\#(username)","email":"\#(email)","date":"2026-11-21","password":"\#(password)"}"#)
            #expect(created.status == .created)
            #expect(created.headers[.location] == "/v1/users/me")
            #expect(created.json["username"] as? String == username)
            #expect(created.json["name"] as? String == username, "the username is the name when none is given")
            #expect(created.json["date"] as? String == "2026-11-21")

            let token = try #require(
                try await client.api(.post, "/v1/tokens", json: #"{"email":"\#(email)","password":"\#(password)"}"#).json["token"] as? String)
            let me = try await client.api(.get, "/v1/users/me", key: token)
            #expect(me.json["username"] as? String == username && me.json["date"] as? String == "2026-11-21")
            let replaced = try await client.api(
                .put, "/v1/users/me", key: token, json: #"{"paymentMethods":[{"issuer":"iss_test_visa","currencies":["EUR"]}]}"#)
            #expect(replaced.status == .ok)
            #expect((replaced.json["paymentMethods"] as? [[String: Any]])?.count == 1)

            // A date-time keeps its date as written; `name` stays an alias beside a username.
            let other = AccountsTests.uniqueEmail("bo")
            let withTime = try await client.api(
                .post, "/v1/users",
                json:
                    #"{"username":"bo_\#(username)","name":"Bo's Bikes","email":"\#(other)","date":"2026-11-21T23:30:00-05:00","password":"\#(password)"}"#
            )
            #expect(withTime.status == .created)
            #expect(withTime.json["date"] as? String == "2026-11-21")
            #expect(withTime.json["name"] as? String == "Bo's Bikes")
            // Without either, both are null.
            let plain = try await client.api(.post, "/v1/users", json: #"{"email":"\#(AccountsTests.uniqueEmail("pl"))","password":"\#(password)"}"#)
            #expect(plain.status == .created)
            #expect(plain.json["username"] is NSNull && plain.json["date"] is NSNull)

            let before = try await app.count("SELECT count(*) FROM users")
            for (field, value) in [
                ("username", "ab"), ("username", String(repeating: "a", count: 41)), ("username", "ana k"), ("username", "anä"),
                ("date", "21.11.2026"), ("date", "2026-02-30"), ("date", "2026-11-21T25:00:00Z"), ("date", "2026-11-21 09:00"),
            ] {
                let body =
                    field == "username"
                    ? #"{"username":"\#(value)","email":"\#(AccountsTests.uniqueEmail("x"))","password":"\#(password)"}"#
                    : #"{"username":"ok_\#(username)","email":"\#(AccountsTests.uniqueEmail("x"))","date":"\#(value)","password":"\#(password)"}"#
                let refused = try await client.api(.post, "/v1/users", json: body)
                #expect(refused.status == .unprocessableContent, "\(field) \(value): \(refused.status)")
                #expect(refused.param == field, "\(field) \(value)")
            }
            let taken = try await client.api(
                .post, "/v1/users",
                json: #"{"username":"\#(username.uppercased())","email":"\#(AccountsTests.uniqueEmail("x"))","password":"\#(password)"}"#)
            #expect(taken.status == .conflict)
            #expect(taken.code == "username_taken" && taken.param == "username")
            #expect(try await app.count("SELECT count(*) FROM users") == before, "nothing was created")
        }
    }

    @Test func theSeedAccountAPI() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let email = AccountsTests.uniqueEmail("seed")
            let created = try await client.api(
                .post, "/v1/users", json: #"{"name":"Seed Shop","email":"\#(email)","password":"a long enough passphrase"}"#)
            #expect(created.status == .created)
            #expect(created.headers[.location] == "/v1/users/me")
            #expect(created.json["email"] as? String == email)
            #expect(
                try await client.api(.post, "/v1/users", json: #"{"email":"\#(email.uppercased())","password":"a long enough passphrase"}"#).code
                    == "email_taken")
            #expect(try await client.api(.post, "/v1/users", json: #"{"email":"x@example.com","password":"password1234"}"#).param == "password")
            #expect(try await client.api(.post, "/v1/users", json: #"{"email":"nope","password":"a long enough passphrase"}"#).param == "email")

            #expect(try await client.api(.post, "/v1/tokens", json: #"{"email":"\#(email)","password":"wrong wrong wrong"}"#).status == .unauthorized)
            let token = try #require(
                try await client.api(.post, "/v1/tokens", json: #"{"email":"\#(email)","password":"a long enough passphrase"}"#).json["token"]
                    as? String)
            #expect(token.split(separator: ".").count == 3)

            let replaced = try await client.api(
                .put, "/v1/users/me", key: token,
                json: #"{"paymentMethods":[{"issuer":"iss_test_visa","currencies":["EUR","USD"]},{"issuer":"iss_sakura","currencies":["JPY"]}]}"#
            )
            #expect(replaced.status == .ok)
            let methods = try #require(replaced.json["paymentMethods"] as? [[String: Any]])
            #expect(Set(methods.compactMap { $0["issuer"] as? String }) == ["iss_test_visa", "iss_sakura"])
            let again = try await client.api(
                .put, "/v1/users/me", key: token, json: #"{"paymentMethods":[{"issuer":"iss_sakura","currencies":["USD"]}]}"#)
            #expect((again.json["paymentMethods"] as? [[String: Any]])?.count == 1)

            #expect(try await client.api(.put, "/v1/users/me", json: #"{"paymentMethods":[]}"#).status == .unauthorized)
            #expect(try await client.api(.put, "/v1/users/me", key: token + "x", json: #"{"paymentMethods":[]}"#).code == "token_invalid")
            let bad = try await client.api(
                .put, "/v1/users/me", key: token, json: #"{"paymentMethods":[{"issuer":"iss_nope","currencies":["EUR"]}]}"#)
            #expect(bad.status == .unprocessableContent)
            #expect(bad.param == "paymentMethods.issuer")
            let nested = try await client.api(
                .put, "/v1/users/me", key: token, json: #"{"paymentMethods":[{"issuer":"iss_sakura","currencies":"JPY"}]}"#)
            #expect(nested.param == "paymentMethods[0].currencies")
        }
    }

    /// Limits count code points, as the tables' CHECKs and the spec's maxLength do: an accent
    /// written as a combining mark is one character to the eye and two to PostgreSQL. Such a
    /// value just over a limit is a clear error in the API and in the HTML form, never a 500.
    @Test func limitsCountWhatTheDatabaseCounts() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let (merchant, key) = try await Browser.merchantWithKey(client)
            let combining = String(repeating: "e\u{301}", count: 250)  // 250 characters, 500 code points
            #expect(combining.count == 250 && combining.length == 500)

            let long = String(repeating: "e\u{301}", count: 125) + "@example.com"  // 137 characters, 262 code points
            let refused = try await client.api(.post, "/v1/users", json: #"{"email":"\#(long)","password":"a long enough passphrase"}"#)
            #expect(refused.status == .badRequest, "\(refused.status)")
            #expect(refused.param == "email")
            // Without a name, the name is the email's local part, cut to the 100 a name may have.
            let local = String(repeating: "e\u{301}", count: 120)  // 240 code points
            let user = try await client.api(.post, "/v1/users", json: #"{"email":"\#(local)@example.com","password":"a long enough passphrase"}"#)
            #expect(user.status == .created, "\(user.status)")
            #expect((user.json["name"] as? String)?.unicodeScalars.count == 100)

            let link = try await client.api(
                .post, "/v1/payment_links", key: key, json: #"{"amount":100,"currency":"EUR","description":"\#(combining)x"}"#
            )
            #expect(link.status == .badRequest, "\(link.status)")
            #expect(link.param == "description")

            _ = try await merchant.get("/links/new")
            let page = try await merchant.post(
                "/links", [("amount", "1.00"), ("currency", "EUR"), ("description", combining + "x"), ("expires_in", "604800")])
            #expect(page.status == .unprocessableContent || page.status == .badRequest, "\(page.status)")
            #expect(page.body.contains("at most 500 characters"))
            #expect(try await app.count("SELECT count(*) FROM payment_links") == 0)
        }
    }

    @Test func theSpecAndTheRouterAgree() async throws {
        let app = try await TestApp.make()
        let (router, _) = try await buildRouter(configuration: app.configuration, logger: Logger(label: "spec"))
        let served = Set(
            router.routes.filter { $0.path.description.hasPrefix("/v1/") }.map { "\($0.method.rawValue) \(Self.normalise($0.path.description))" })
        let spec = OpenAPIController.bundledSpec()
        let documented = Set(OpenAPIController.endpoints(in: spec).map { "\($0.method) \(Self.normalise($0.path))" })
        #expect(!documented.isEmpty)
        #expect(served.subtracting(documented).isEmpty, "routes the spec lacks: \(served.subtracting(documented).sorted())")
        #expect(documented.subtracting(served).isEmpty, "spec entries without a route: \(documented.subtracting(served).sorted())")
    }

    /// `/v1/payments/:id` and `/v1/payments/{id}` both become `/v1/payments/{}`.
    static func normalise(_ path: String) -> String {
        path.split(separator: "/").map { $0.hasPrefix(":") || $0.hasPrefix("{") ? "{}" : String($0) }.joined(separator: "/")
    }

    @Test func theSpecIsServedAndReadable() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let yaml = try await Browser(client).get("/openapi.yaml")
            #expect(yaml.status == .ok)
            #expect(yaml.body.hasPrefix("openapi: 3.1.0"))
            let docs = try await Browser(client).get("/docs")
            #expect(docs.body.contains("/v1/payment_links"))
            #expect(docs.body.contains("Create a signed, expiring payment link"))
            // A reference: one section per operation with its anchor, statuses, schema and a curl line.
            let operations = OpenAPIController.operations(in: OpenAPIController.bundledSpec())
            #expect(operations.count >= 20 && operations.allSatisfy { !$0.operationID.isEmpty && !$0.statuses.isEmpty })
            for operation in operations {
                #expect(docs.body.contains(#"id="\#(operation.operationID)""#) && docs.body.contains(##"href="#\##(operation.operationID)""##))
            }
            #expect(docs.body.contains("curl -X POST &#39;http://127.0.0.1:8080/v1/payment_links&#39;"))
            #expect(docs.body.contains("Idempotency-Key: $(uuidgen)") && docs.body.contains("Authorization: Bearer sk_…"))
            #expect(docs.body.contains("&quot;currency&quot;: &quot;EUR&quot;"))
            #expect(!docs.body.contains(#"class="account-menu""#), "signed out: the public layout")

            // Signed in: the merchant's layout, and the examples start with their key.
            let (merchant, key) = try await Browser.merchantWithKey(client)
            let mine = try await merchant.get("/docs")
            #expect(mine.body.contains(#"class="account-menu""#) && mine.body.contains(#"aria-current="page">Developers"#))
            #expect(mine.body.contains("Authorization: Bearer \(key.prefix(12))…"))
            #expect(!mine.body.contains(key), "never the whole key")
        }
    }
}
