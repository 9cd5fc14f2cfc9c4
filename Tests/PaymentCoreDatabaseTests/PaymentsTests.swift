import Foundation
import KassaTestSupport
import PostgresNIO
import Testing

@testable import PaymentCore

@Suite("Payments against PostgreSQL: links, outcomes, refunds, ledger, recovery")
struct PaymentsTests {
    // MARK: paying a link

    @Test func paidLinkWritesThePaymentAndItsEventsAndTheLedgerFollows() async throws {
        try await CoreHarness.run { core in
            // setup
            let account = try await core.merchant()
            let link = try await core.link(account, amount: 2500)
            let payments = core.payments()

            // MUT
            let payment = try await payments.pay(core.checkout(link))

            // validate
            #expect(payment.status == .succeeded)
            #expect(payment.amount == Money(minorUnits: 2500, currency: .eur))
            #expect(payment.card == CardSummary(brand: .visa, last4: "4242", expMonth: 12, expYear: 2030))
            #expect(payment.issuerID == "iss_test_visa")
            let events = try await payments.events(accountID: account, paymentID: payment.id)
            #expect(events.map(\.type) == [.paymentCreated, .paymentProcessing, .paymentSucceeded])
            #expect(try await payments.links.find(id: link.id)?.status(at: Date()) == .completed)
            // The ledger is derived: one transfer for the one money-moving event, once its consumer ran.
            try await core.catchUp()
            #expect(try await payments.balances(accountID: account) == [Money(minorUnits: 2500, currency: .eur)])
            #expect(
                try await core.count(
                    """
                    SELECT count(*) FROM ledger_transfers t JOIN payment_events e ON e.account_id = t.account_id AND e.id = t.event_id
                    WHERE t.payment_id = \(payment.id) AND e.type = 'payment.succeeded' AND t.debit = 'payer_funds'
                      AND t.credit = 'merchant_balance' AND t.amount = 2500 AND t.currency = 'EUR'
                    """
                ) == 1
            )
            #expect(try await core.count("SELECT count(*) FROM ledger_transfers WHERE payment_id = \(payment.id)") == 1)
        }
    }

    @Test func aCheckoutPaymentIsBornProcessingWithBothEventsInOrder() async throws {
        try await CoreHarness.run { core in
            let account = try await core.merchant()
            let link = try await core.link(account, amount: 1200)

            let payment = try await core.payments().pay(core.checkout(link))

            // One statement writes the row as `processing` and both events: the log still reads
            // created (as requires_payment, naming the link) before processing (naming the attempt).
            let attempt = try #require(payment.attemptID)
            #expect(
                try await core.count(
                    """
                    SELECT count(*) FROM payment_events c, payment_events p
                    WHERE c.payment_id = \(payment.id) AND p.payment_id = \(payment.id) AND c.seq < p.seq AND c.created_at <= p.created_at
                      AND c.type = 'payment.created' AND c.data->>'status' = 'requires_payment' AND c.data->>'payment_link' = \(link.id)
                      AND (c.data->>'amount')::bigint = 1200 AND c.data->>'currency' = 'EUR'
                      AND p.type = 'payment.processing' AND p.data->>'status' = 'processing' AND p.data->>'attempt_id' = \(attempt)
                      AND p.data->>'issuer' = 'iss_test_visa' AND p.data->>'card_last4' = '4242'
                    """
                ) == 1
            )
            #expect(
                try await core.count(
                    """
                    SELECT count(*) FROM payments WHERE id = \(payment.id) AND processing_started_at IS NOT NULL
                      AND payment_method_id IS NOT NULL AND cardholder_name IS NOT NULL AND single_use_link_id = \(link.id)
                    """
                ) == 1
            )
        }
    }

    @Test func theCardNumberAndCVCAreNeverStored() async throws {
        try await CoreHarness.run { core in
            let account = try await core.merchant()
            let link = try await core.link(account)
            _ = try await core.payments().pay(core.checkout(link, card: "4242424242424242"))
            // Every text column of every row, and every event's data.
            let leaks = try await core.count(
                """
                SELECT count(*) FROM payments p, payment_events e
                WHERE p::text LIKE '%4242424242424242%' OR e::text LIKE '%4242424242424242%' OR p::text LIKE '%,123,%'
                """
            )
            #expect(leaks == 0)
            #expect(try await core.count("SELECT count(*) FROM payments WHERE card_last4 = '4242' AND length(card_fingerprint) = 32") == 1)
        }
    }

    @Test(
        arguments: [
            ("4242424242424242", nil), ("5555555555554444", nil), ("378282246310005", nil),
            ("4000000000000002", DeclineCode.cardDeclined), ("4000000000009995", .insufficientFunds), ("4000000000000069", .expiredCard),
            ("4000000000000127", .incorrectCVC), ("4000000000000119", .processingError),
        ] as [(String, DeclineCode?)])
    func everyTestCardEndsAsDesigned(number: String, decline: DeclineCode?) async throws {
        try await CoreHarness.run { core in
            let account = try await core.merchant()
            let link = try await core.link(account)
            let payment = try await core.payments().pay(core.checkout(link, card: number))
            #expect(payment.status == (decline == nil ? .succeeded : .failed))
            #expect(payment.failureCode == decline)
            // A decline gives the single-use link back for another try.
            let stored = try #require(try await core.payments().links.find(id: link.id))
            #expect(stored.uses == (decline == nil ? 1 : 0))
            try await core.catchUp()
            #expect(try await core.count("SELECT count(*) FROM ledger_transfers") == (decline == nil ? 1 : 0))
        }
    }

    @Test func resubmittingTheSameAttemptReturnsTheFirstOutcome() async throws {
        try await CoreHarness.run { core in
            let account = try await core.merchant()
            let link = try await core.link(account, maxUses: 5)
            let payments = core.payments()
            let first = try await payments.pay(core.checkout(link, card: "4000000000000002", token: "tok_same"))
            // Even with a card that would succeed, the same attempt answers as it first did.
            let again = try await payments.pay(core.checkout(link, card: "4242424242424242", token: "tok_same"))
            #expect(again.id == first.id)
            #expect(again.status == .failed)
            #expect(try await core.count("SELECT count(*) FROM payments") == 1)
        }
    }

    @Test func fiftyConcurrentConfirmationsOfASingleUseLinkMakeOnePayment() async throws {
        try await CoreHarness.run { core in
            // setup: PostgreSQL alone decides (there is no other lock on the checkout)
            let account = try await core.merchant()
            let link = try await core.link(account)
            let payments = core.payments(gateway: core.simulator(latency: .milliseconds(20)))

            // MUT
            let outcomes = await withTaskGroup(of: Result<CheckoutOutcome, any Error>.self) { group in
                for _ in 0..<50 {
                    group.addTask { await Result(catching: { try await payments.checkout.pay(core.checkout(link)) }) }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }

            // validate
            var paid = 0
            for outcome in outcomes {
                switch try outcome.get() {
                case .paid(let receipt):
                    paid += 1
                    #expect(receipt.status == .succeeded)
                case .linkClosed(.completed), .linkClosed(.active): break
                case let other: Issue.record("unexpected \(other)")
                }
            }
            #expect(paid == 1)
            #expect(try await core.count("SELECT count(*) FROM payments WHERE account_id = \(account) AND status = 'succeeded'") == 1)
            #expect(try await core.count("SELECT count(*) FROM payments WHERE account_id = \(account)") == 1)
            try await core.catchUp()
            #expect(try await payments.balances(accountID: account) == [Money(minorUnits: 2500, currency: .eur)])
        }
    }

    @Test func aLinkWithMaxUsesTakesExactlyThatManyPayments() async throws {
        try await CoreHarness.run { core in
            let account = try await core.merchant()
            let link = try await core.link(account, maxUses: 3)
            let payments = core.payments()
            let outcomes = await withTaskGroup(of: Payment?.self) { group in
                for _ in 0..<12 { group.addTask { try? await payments.pay(core.checkout(link)) } }
                return await group.reduce(into: [Payment?]()) { $0.append($1) }
            }
            #expect(outcomes.compactMap { $0 }.filter { $0.status == .succeeded }.count == 3)
            #expect(try await payments.links.find(id: link.id)?.uses == 3)
        }
    }

    @Test func refusedLinksChangeNothing() async throws {
        try await CoreHarness.run { core in
            let account = try await core.merchant()
            let payments = core.payments()
            let revoked = try await core.link(account)
            _ = try await payments.links.revoke(accountID: account, id: revoked.id)
            #expect(try await payments.checkout.pay(core.checkout(revoked)) == .linkClosed(.revoked))

            let expired = try await core.link(account)
            try await core.client.query(
                "UPDATE payment_links SET created_at = now() - interval '2 days', expires_at = now() - interval '1 second' WHERE id = \(expired.id)",
                logger: core.logger
            )
            // The copy the checkout holds still says open: the start batch reads the link under lock.
            #expect(try await payments.checkout.pay(core.checkout(expired)) == .linkClosed(.expired))
            let missing = PaymentLink(
                id: LinkID("plink_nothing"), accountID: account, amount: expired.amount, description: "x", maxUses: 1, uses: 0, paymentMethodIDs: [],
                expiresAt: Date().addingTimeInterval(3600), revokedAt: nil, createdAt: Date()
            )
            #expect(try await payments.checkout.pay(core.checkout(missing)) == .notFound)
            #expect(try await core.count("SELECT count(*) FROM payments") == 0)
            #expect(try await core.count("SELECT count(*) FROM payment_events") == 0)
        }
    }

    @Test func cardsTheMerchantDoesNotAcceptAreTurnedAway() async throws {
        try await CoreHarness.run { core in
            // Accepts the test Visa in EUR only, and Liberty National (a US issuer, USD only).
            let account = try await core.merchant([("iss_test_visa", ["EUR"]), ("iss_liberty_national", ["USD"])])
            let payments = core.payments()
            let euros = try await core.link(account, currency: .eur)
            #expect(
                try await payments.checkout.pay(core.checkout(euros, card: "5555555555554444"))
                    == .cardNotAccepted(network: .mastercard, issuer: "Mastercard"))
            // A Liberty National card (BIN 4532xx) in euros: that issuer is accepted, but only in dollars.
            #expect(
                try await payments.checkout.pay(core.checkout(euros, card: "4532015112830366"))
                    == .cardNotAccepted(network: .visa, issuer: "Liberty National Bank")
            )
            let dollars = try await core.link(account, currency: .usd)
            #expect(try await payments.pay(core.checkout(dollars, card: "4532015112830366")).issuerID == "iss_liberty_national")
            #expect(try await core.count("SELECT count(*) FROM payments") == 1)
        }
    }

    @Test func linksNeedAMethodForTheirCurrencyAndAnAmountKassaTakes() async throws {
        try await CoreHarness.run { core in
            let account = try await core.merchant([("iss_test_visa", ["EUR"])])
            let noMethod = await #expect(throws: FieldProblems.self) { try await core.link(account, currency: .usd) }
            #expect(noMethod?.problems.map(\.field) == ["currency"])
            #expect(noMethod?["currency"]?.code == "no_payment_method_for_currency")
            for amount: Int64 in [0, 100_000_000] {
                let outOfRange = await #expect(throws: FieldProblems.self) { try await core.link(account, amount: amount) }
                #expect(outOfRange?.problems.map(\.field) == ["amount"])
            }
            #expect(try await core.count("SELECT count(*) FROM payment_links") == 0)
            #expect(try await core.count("SELECT count(*) FROM payments") == 0)
        }
    }

    // MARK: the state machine

    @Test func everyLegalTransitionWorksAndEveryIllegalOneThrows() async throws {
        try await CoreHarness.run { core in
            let account = try await core.merchant()
            let payments = core.payments()
            func paid(_ card: String = "4242424242424242") async throws -> Payment {
                try await payments.pay(core.checkout(try await core.link(account, amount: 1000), card: card))
            }

            // processing → succeeded / failed (the checkout), succeeded → partially_refunded →
            // partially_refunded → refunded, succeeded → refunded at once (refunds)
            let payment = try await paid()
            #expect(payment.status == .succeeded)
            let declined = try await paid("4000000000000002")
            #expect(declined.status == .failed)
            #expect(try await payments.refund(accountID: account, paymentID: payment.id, amount: 100, reason: nil).1.status == .partiallyRefunded)
            #expect(try await payments.refund(accountID: account, paymentID: payment.id, amount: 100, reason: nil).1.status == .partiallyRefunded)
            #expect(try await payments.refund(accountID: account, paymentID: payment.id, amount: nil, reason: "returned").1.status == .refunded)
            let other = try await paid()
            #expect(try await payments.refund(accountID: account, paymentID: other.id, amount: nil, reason: nil).1.status == .refunded)
            // requires_payment → expired: a link's expiry expires its payments still waiting for a card
            // (only payments written before checkouts were born `processing` can be waiting).
            let link = try await core.link(account)
            try await core.client.query(
                """
                INSERT INTO payments (account_id, id, status, amount, currency, payment_link_id)
                VALUES (\(account), 'pay_WAITINGWAITINGWAITINGWAI', 'requires_payment', 2500, 'EUR', \(link.id))
                """,
                logger: core.logger
            )
            try await core.client.query(
                "UPDATE payment_links SET created_at = now() - interval '2 days', expires_at = now() - interval '1 second' WHERE id = \(link.id)",
                logger: core.logger
            )
            #expect(try await payments.links.expireDue() == 1)
            #expect(try await payments.payment(id: PaymentID("pay_WAITINGWAITINGWAITINGWAI"))?.status == .expired)

            // Illegal: from every final state, and backwards.
            await #expect(throws: PaymentError.invalidTransition(from: .failed, to: .succeeded)) {
                try await payments.finish(accountID: account, paymentID: declined.id, outcome: .approved(authorizationCode: "X"))
            }
            await #expect(throws: PaymentError.invalidTransition(from: .refunded, to: .failed)) {
                try await payments.finish(accountID: account, paymentID: other.id, outcome: .declined(.cardDeclined))
            }
            await #expect(throws: PaymentError.invalidTransition(from: .expired, to: .succeeded)) {
                try await payments.finish(
                    accountID: account, paymentID: PaymentID("pay_WAITINGWAITINGWAITINGWAI"), outcome: .approved(authorizationCode: "X"))
            }
            await #expect(throws: PaymentError.notRefundable(.failed)) {
                try await payments.refund(accountID: account, paymentID: declined.id, amount: nil, reason: nil)
            }
            await #expect(throws: PaymentError.notRefundable(.refunded)) {
                try await payments.refund(accountID: account, paymentID: payment.id, amount: 1, reason: nil)
            }
            await #expect(throws: PaymentError.notRefundable(.expired)) {
                try await payments.refund(accountID: account, paymentID: PaymentID("pay_WAITINGWAITINGWAITINGWAI"), amount: 1, reason: nil)
            }
            await #expect(throws: PaymentError.notFound) {
                try await payments.finish(accountID: account, paymentID: PaymentID("pay_missing"), outcome: .approved(authorizationCode: "X"))
            }
            // Another merchant cannot touch it.
            let stranger = try await core.merchant()
            await #expect(throws: PaymentError.notFound) {
                try await payments.refund(accountID: stranger, paymentID: other.id, amount: nil, reason: nil)
            }
            await #expect(throws: PaymentError.notFound) {
                try await payments.finish(accountID: stranger, paymentID: declined.id, outcome: .approved(authorizationCode: "X"))
            }

            let types = try await payments.events(accountID: account, paymentID: payment.id).map(\.type)
            #expect(types == [.paymentCreated, .paymentProcessing, .paymentSucceeded, .paymentRefunded, .paymentRefunded, .paymentRefunded])
            #expect(
                try await payments.events(accountID: account, paymentID: PaymentID("pay_WAITINGWAITINGWAITINGWAI")).map(\.type) == [.paymentExpired])
        }
    }

    @Test func theDatabaseItselfRefusesIllegalTransitionsAndEdits() async throws {
        try await CoreHarness.run { core in
            let account = try await core.merchant()
            let payments = core.payments()
            try await core.client.query(
                "INSERT INTO payments (account_id, id, status, amount, currency) VALUES (\(account), 'pay_WAITINGWAITINGWAITINGWAI', 'requires_payment', 1000, 'EUR')",
                logger: core.logger
            )
            let link = try await core.link(account)
            let paid = try await payments.pay(core.checkout(link))
            try await core.catchUp()
            let transfer = try await core.count("SELECT count(*) FROM ledger_transfers WHERE payment_id = \(paid.id)")
            #expect(transfer == 1)

            // Each refused by the constraint (or trigger) named (one of those named, separated by |), and nothing else.
            let refused: [(PostgresQuery, String)] = [
                ("UPDATE payments SET status = 'succeeded' WHERE id = 'pay_WAITINGWAITINGWAITINGWAI'", "payments_legal_transition"),
                ("UPDATE payments SET status = 'processing' WHERE id = \(paid.id)", "payments_legal_transition"),
                ("UPDATE payments SET status = 'canceled' WHERE id = \(paid.id)", "payments_legal_transition"),
                ("UPDATE payments SET amount = 1 WHERE id = \(paid.id)", "payments_immutable_fields"),
                // Two CHECKs refuse a refund above the amount; PostgreSQL names the first it tries.
                (
                    "UPDATE payments SET amount_refunded = amount + 1, status = 'refunded' WHERE id = \(paid.id)",
                    "payments_refund_within_captured|payments_check1"
                ),
                ("UPDATE payment_events SET type = 'payment.failed' WHERE payment_id = \(paid.id)", "append-only"),
                ("DELETE FROM payment_events WHERE payment_id = \(paid.id)", "append-only"),
                // Only the kinds PaymentCore's EventType names.
                (
                    """
                    INSERT INTO payment_events (account_id, id, payment_id, type, data)
                    VALUES (\(account), 'evt_UNKNOWNUNKNOWNUNKNOWNUNK', \(paid.id), 'payment.teleported', '{}')
                    """,
                    "payment_events_type_known"
                ),
                ("DELETE FROM ledger_transfers WHERE payment_id = \(paid.id)", "append-only"),
                ("UPDATE ledger_transfers SET amount = 1 WHERE payment_id = \(paid.id)", "append-only"),
                ("UPDATE payment_links SET uses = max_uses + 1 WHERE id = \(link.id)", "payment_links_uses_within_max"),
                // A payment that took no money holds no single-use link; two cannot hold one.
                (
                    """
                    INSERT INTO payments (account_id, id, status, amount, currency, payment_link_id, single_use_link_id, attempt_id)
                    VALUES (\(account), 'pay_SECONDSECONDSECONDSECOND', 'processing', 2500, 'EUR', \(link.id), \(link.id), 'att_SECONDSECONDSECONDSECOND')
                    """,
                    "payments_single_use_link_key"
                ),
                (
                    "INSERT INTO payments (account_id, id, status, amount, currency, payment_link_id, single_use_link_id) VALUES (\(account), 'pay_THIRDTHIRDTHIRDTHIRDTHIR', 'requires_payment', 2500, 'EUR', \(link.id), \(link.id))",
                    "payments_single_use_held_while_live"
                ),
                (
                    "INSERT INTO payment_methods (account_id, id, issuer_id, currencies) VALUES (\(account), 'pm_AAAAAAAAAAAAAAAAAAAAAAAA', 'iss_liberty_national', '{EUR}')",
                    "payment_methods_currencies_supported"
                ),
                // A transfer must belong to an event, move a positive amount, and between two different accounts.
                (
                    """
                    INSERT INTO ledger_transfers (account_id, event_id, payment_id, debit, credit, currency, amount, created_at)
                    VALUES (\(account), 'evt_x', \(paid.id), 'payer_funds', 'merchant_balance', 'EUR', 100, now())
                    """,
                    "ledger_transfers_event_fkey"
                ),
                (
                    """
                    INSERT INTO ledger_transfers (account_id, event_id, payment_id, debit, credit, currency, amount, created_at)
                    SELECT account_id, id, payment_id, 'payer_funds', 'merchant_balance', 'EUR', -100, now() FROM payment_events
                    WHERE payment_id = \(paid.id) AND type = 'payment.created'
                    """,
                    "ledger_transfers_amount_check"
                ),
                (
                    """
                    INSERT INTO ledger_transfers (account_id, event_id, payment_id, debit, credit, currency, amount, created_at)
                    SELECT account_id, id, payment_id, 'merchant_balance', 'merchant_balance', 'EUR', 100, now() FROM payment_events
                    WHERE payment_id = \(paid.id) AND type = 'payment.created'
                    """,
                    "ledger_transfers_check"
                ),
                // One transfer per event: a second one is refused by the key (the transfers are
                // partitioned by month, so it names the partition's index), and one at another time
                // by the foreign key (a transfer's time is its event's).
                (
                    """
                    INSERT INTO ledger_transfers (account_id, event_id, payment_id, debit, credit, currency, amount, created_at)
                    SELECT account_id, event_id, payment_id, debit, credit, currency, amount, created_at FROM ledger_transfers WHERE payment_id = \(paid.id)
                    """,
                    "ledger_transfers_early_pkey|ledger_transfers_2"
                ),
                (
                    """
                    INSERT INTO ledger_transfers (account_id, event_id, payment_id, debit, credit, currency, amount, created_at)
                    SELECT account_id, event_id, payment_id, debit, credit, currency, amount, now() FROM ledger_transfers WHERE payment_id = \(paid.id)
                    """,
                    "ledger_transfers_event_fkey"
                ),
            ]
            for (query, expected) in refused {
                do {
                    try await core.client.query(query, logger: core.logger)
                    Issue.record("accepted: \(query.sql)")
                } catch let error as PSQLError {
                    let named = error.serverInfo?[.constraintName] ?? error.serverInfo?[.message] ?? ""
                    #expect(expected.split(separator: "|").contains { named.contains($0) }, "\(query.sql): \(String(reflecting: error))")
                }
            }
            #expect(try await core.count("SELECT count(*) FROM ledger_transfers WHERE payment_id = \(paid.id)") == 1)
            #expect(try await payments.payment(id: paid.id)?.status == .succeeded)
            #expect(try await payments.payment(id: PaymentID("pay_WAITINGWAITINGWAITINGWAI"))?.status == .requiresPayment)
        }
    }

    // MARK: crashes, timeouts, recovery

    @Test(arguments: [Payments.Step.batchWritten, .paymentWritten, .eventWritten])
    func aFailureMidTransitionLeavesNothingHalfWritten(step: Payments.Step) async throws {
        try await CoreHarness.run { core in
            struct Crash: Error {}
            let account = try await core.merchant()
            let healthy = core.payments()
            let crashing = core.payments(fault: { if $0 == step { throw Crash() } })
            // Commit `processing` the normal way, as a server killed before the issuer answered leaves it.
            let link = try await core.link(account, amount: 1000)
            let stuck = try await core.payments(gateway: FlakyIssuer(inner: core.simulator(), mode: .down)).pay(core.checkout(link))
            #expect(stuck.status == .processing)
            let eventsBefore = try await core.count("SELECT count(*) FROM payment_events")

            // MUT: the outcome's batch fails after its statement, before its COMMIT
            if step == .batchWritten {
                await #expect(throws: Crash.self) {
                    try await crashing.finish(accountID: account, paymentID: stuck.id, outcome: .approved(authorizationCode: "A1"))
                }
                // validate: nothing of it remains
                #expect(try await healthy.payment(id: stuck.id)?.status == .processing)
                #expect(try await core.count("SELECT count(*) FROM payment_events") == eventsBefore)
                #expect(try await healthy.links.find(id: link.id)?.uses == 1)
            }

            // The same for a refund, at each of its steps.
            let done = try await healthy.finish(accountID: account, paymentID: stuck.id, outcome: .approved(authorizationCode: "A1"))
            #expect(done.status == .succeeded)
            let eventsPaid = try await core.count("SELECT count(*) FROM payment_events")
            if step != .batchWritten {
                await #expect(throws: Crash.self) { try await crashing.refund(accountID: account, paymentID: stuck.id, amount: 300, reason: nil) }
            }
            #expect(try await healthy.payment(id: stuck.id)?.amountRefunded == 0)
            #expect(try await core.count("SELECT count(*) FROM refunds") == 0)
            #expect(try await core.count("SELECT count(*) FROM payment_events") == eventsPaid)
            try await core.catchUp()
            #expect(try await healthy.balances(accountID: account) == [Money(minorUnits: 1000, currency: .eur)])
        }
    }

    @Test func recoveryFinishesAPaymentTheIssuerApprovedBeforeTheAnswerWasLost() async throws {
        try await CoreHarness.run { core in
            let account = try await core.merchant()
            let link = try await core.link(account)
            let flaky = FlakyIssuer(inner: core.simulator(), mode: .decidesThenLosesAnswer)
            let stuck = try await core.payments(gateway: flaky).pay(core.checkout(link))
            #expect(stuck.status == .processing)
            try await core.catchUp()
            #expect(try await core.payments().balances(accountID: account).isEmpty)

            // A recovery pass before the payment is old enough leaves it alone.
            #expect(try await core.payments().recoverStuckPayments() == 0)
            let recovered = try await core.payments(settings: .init(recoverAfter: .zero)).recoverStuckPayments()
            #expect(recovered == 1)
            let payment = try #require(try await core.payments().payment(id: stuck.id))
            #expect(payment.status == .succeeded)
            try await core.catchUp()
            #expect(try await core.payments().balances(accountID: account) == [Money(minorUnits: 2500, currency: .eur)])
            // Running it again changes nothing.
            #expect(try await core.payments(settings: .init(recoverAfter: .zero)).recoverStuckPayments() == 0)
        }
    }

    @Test func recoveryFailsAnAttemptTheIssuerNeverSawAndALateAnswerCannotReviveIt() async throws {
        try await CoreHarness.run { core in
            let account = try await core.merchant()
            let link = try await core.link(account)
            let stuck = try await core.payments(gateway: FlakyIssuer(inner: core.simulator(), mode: .down)).pay(core.checkout(link))
            #expect(stuck.status == .processing)
            #expect(try await core.payments(settings: .init(recoverAfter: .zero)).recoverStuckPayments() == 1)
            let payment = try #require(try await core.payments().payment(id: stuck.id))
            #expect(payment.status == .failed)
            #expect(payment.failureCode == .issuerUnavailable)
            // The issuer now refuses that attempt id, so a delayed request cannot take money.
            let late = try await core.simulator().authorize(
                AuthorizationRequest(
                    attemptID: try #require(stuck.attemptID), issuerID: "iss_test_visa", amount: stuck.amount,
                    card: CoreHarness.card("4242424242424242"))
            )
            #expect(late == .declined(.issuerUnavailable))
            // And the link is open again.
            #expect(try await core.payments().links.find(id: link.id)?.uses == 0)
        }
    }

    @Test func aSlowIssuerTimesOutAndThePaymentFailsCleanly() async throws {
        try await CoreHarness.run { core in
            let account = try await core.merchant()
            let link = try await core.link(account)
            let payments = core.payments(gateway: core.simulator(latency: .seconds(3)), timeout: .milliseconds(100))
            let payment = try await payments.pay(core.checkout(link))
            // Usually the follow-up question settles it at once; on a busy machine that question may
            // time out too, and then the recovery worker settles it. Either way it ends the same.
            if payment.status == .processing {
                #expect(try await core.payments(settings: .init(recoverAfter: .zero)).recoverStuckPayments() == 1)
            } else {
                #expect(payment.status == .failed)
            }
            let final = try #require(try await payments.payment(id: payment.id))
            #expect(final.status == .failed)
            #expect(final.failureCode == .issuerUnavailable)
            // The abandoned call never records an approval behind our back.
            try await Task.sleep(for: .seconds(3.2))
            #expect(try await core.count("SELECT count(*) FROM simulator_authorizations WHERE outcome = 'approved'") == 0)
        }
    }

    @Test func anOpenCircuitFailsFastWithoutWritingAPayment() async throws {
        try await CoreHarness.run { core in
            let account = try await core.merchant()
            let link = try await core.link(account, maxUses: 10)
            let breaker = CircuitBreaker(settings: .init(failureThreshold: 2, coolDown: .seconds(60)))
            let down = FlakyIssuer(inner: core.simulator(), mode: .down)
            let payments = core.payments(gateway: down, breaker: breaker)
            _ = try await payments.pay(core.checkout(link))  // authorize and resolve both fail: two failures
            #expect(breaker.isOpen("iss_test_visa"))
            let before = try await core.count("SELECT count(*) FROM payments")
            let calls = down.calls
            #expect(try await payments.checkout.pay(core.checkout(link)) == .issuerUnavailable(issuer: "Kassa Test Visa"))
            #expect(try await core.count("SELECT count(*) FROM payments") == before)
            #expect(down.calls == calls)
            // Mastercard's issuer is a different circuit.
            let mastercard = try await payments.pay(core.checkout(link, card: "5555555555554444"))
            #expect(mastercard.status == .processing)
            // Clean up what the outage left, as the recovery worker would once the issuer is back.
            down.mode = .works
            #expect(try await core.payments(gateway: down, settings: .init(recoverAfter: .zero)).recoverStuckPayments() == 2)
        }
    }

    // MARK: refunds

    @Test func twentyConcurrentRefundsNeverExceedTheCapturedAmount() async throws {
        try await CoreHarness.run { core in
            // setup: a 10.00 payment
            let account = try await core.merchant()
            let link = try await core.link(account, amount: 1000)
            let payments = core.payments()
            let payment = try await payments.pay(core.checkout(link))

            // MUT: twenty refunds of 1.50 at once; only six fit (9.00), the seventh would make 10.50
            let results = await withTaskGroup(of: Result<Refund, any Error>.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        await Result(catching: { try await payments.refund(accountID: account, paymentID: payment.id, amount: 150, reason: nil).0 })
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }

            // validate
            let refunds = results.compactMap { try? $0.get() }
            #expect(refunds.count == 6)
            for case .failure(let error) in results {
                #expect(error as? PaymentError == .refundExceedsCaptured(available: Money(minorUnits: 100, currency: .eur)))
            }
            let after = try #require(try await payments.payment(id: payment.id))
            #expect(after.amountRefunded == 900)
            #expect(after.status == .partiallyRefunded)
            #expect(try await core.count("SELECT coalesce(sum(amount), 0)::bigint FROM refunds") == 900)
            try await core.catchUp()
            #expect(try await payments.balances(accountID: account) == [Money(minorUnits: 100, currency: .eur)])
            // The rest, then nothing more.
            #expect(try await payments.refund(accountID: account, paymentID: payment.id, amount: nil, reason: nil).0.amount.minorUnits == 100)
            await #expect(throws: PaymentError.notRefundable(.refunded)) {
                try await payments.refund(accountID: account, paymentID: payment.id, amount: 1, reason: nil)
            }
            try await core.catchUp()
            #expect(try await payments.balances(accountID: account) == [Money(minorUnits: 0, currency: .eur)])
        }
    }

    @Test func badRefundAmountsAreRefusedAndChangeNothing() async throws {
        try await CoreHarness.run { core in
            let account = try await core.merchant()
            let payments = core.payments()
            let payment = try await payments.pay(core.checkout(try await core.link(account, amount: 1000)))
            await #expect(throws: PaymentError.refundExceedsCaptured(available: Money(minorUnits: 1000, currency: .eur))) {
                try await payments.refund(accountID: account, paymentID: payment.id, amount: 1001, reason: nil)
            }
            await #expect(throws: PaymentError.amountOutOfRange) {
                try await payments.refund(accountID: account, paymentID: payment.id, amount: 0, reason: nil)
            }
            await #expect(throws: PaymentError.amountOutOfRange) {
                try await payments.refund(accountID: account, paymentID: payment.id, amount: -5, reason: nil)
            }
            #expect(try await core.count("SELECT count(*) FROM refunds") == 0)
            #expect(try await payments.payment(id: payment.id)?.status == .succeeded)
        }
    }

    @Test func balancesAreKeptPerCurrency() async throws {
        try await CoreHarness.run { core in
            let account = try await core.merchant([("iss_test_visa", ["EUR", "USD", "JPY"])])
            let payments = core.payments()
            _ = try await payments.pay(core.checkout(try await core.link(account, amount: 1999, currency: .eur)))
            _ = try await payments.pay(core.checkout(try await core.link(account, amount: 500, currency: .jpy)))
            let dollars = try await payments.pay(core.checkout(try await core.link(account, amount: 1000, currency: .usd)))
            _ = try await payments.refund(accountID: account, paymentID: dollars.id, amount: 250, reason: nil)
            try await core.catchUp()
            #expect(try await payments.balances(accountID: account).map(\.formatted) == ["€19.99", "¥500", "$7.50"])
        }
    }

    // MARK: payment methods

    @Test func paymentMethodsValidateAgainstTheIssuerAndProtectOpenLinks() async throws {
        try await CoreHarness.run { core in
            let account = try await core.merchant([])
            let methods = core.payments().methods
            await #expect(throws: PaymentError.issuerNotFound("iss_nope")) {
                try await methods.add(accountID: account, issuerID: "iss_nope", currencies: ["EUR"])
            }
            await #expect(throws: PaymentError.unsupportedCurrencies(["EUR"])) {
                try await methods.add(accountID: account, issuerID: "iss_liberty_national", currencies: ["USD", "eur"])
            }
            await #expect(throws: PaymentError.unsupportedCurrencies(["XYZ"])) {
                try await methods.add(accountID: account, issuerID: "iss_test_visa", currencies: ["XYZ"])
            }
            await #expect(throws: PaymentError.unsupportedCurrencies([])) {
                try await methods.add(accountID: account, issuerID: "iss_test_visa", currencies: [])
            }
            #expect(try await methods.list(accountID: account).isEmpty)

            let visa = try await methods.add(accountID: account, issuerID: "iss_test_visa", currencies: ["eur", "USD", "EUR"])
            #expect(visa.currencies == [.eur, .usd])
            await #expect(throws: PaymentError.methodExists) {
                try await methods.add(accountID: account, issuerID: "iss_test_visa", currencies: ["GBP"])
            }

            // An open EUR link depends on the only method taking EUR.
            let link = try await core.link(account, currency: .eur)
            await #expect(throws: PaymentError.methodInUse(links: 1)) { try await methods.remove(accountID: account, id: visa.id) }
            await #expect(throws: PaymentError.methodInUse(links: 1)) {
                try await methods.update(accountID: account, id: visa.id, currencies: ["USD"])
            }
            // Dropping USD is fine; so is removal once another method takes EUR.
            #expect(try await methods.update(accountID: account, id: visa.id, currencies: ["EUR"]).currencies == [.eur])
            _ = try await methods.add(accountID: account, issuerID: "iss_test_mastercard", currencies: ["EUR"])
            try await methods.remove(accountID: account, id: visa.id)
            #expect(try await methods.list(accountID: account).map(\.issuerID) == ["iss_test_mastercard"])
            // A revoked link holds nothing up.
            _ = try await core.payments().links.revoke(accountID: account, id: link.id)
            let only = try #require(try await methods.list(accountID: account).first)
            try await methods.remove(accountID: account, id: only.id)
        }
    }

    @Test func theIssuerCatalogueIsSeeded() async throws {
        try await CoreHarness.run { core in
            let catalog = try await core.payments().catalog()
            #expect(catalog.issuers.count >= 8)
            #expect(Set(catalog.issuers.map(\.network)) == Set(CardNetwork.allCases))
            for network in CardNetwork.allCases {
                let test = try #require(catalog.issuers.first { $0.network == network && $0.isTestIssuer })
                #expect(Set(["USD", "EUR", "GBP", "CAD", "AUD", "CHF", "SEK"]).isSubset(of: test.currencies.map(\.code)), "\(test.name)")
            }
            #expect(catalog.issuer(id: "iss_sakura")?.currencies == [.jpy, .usd])
            #expect(catalog.issuer(id: "iss_liberty_national")?.currencies == [.usd])
        }
    }
}

extension PaymentsTests {
    /// The dashboard reads balances kept by the ledger consumer (`ledger_balances`), not a sum over
    /// every transfer; the audit holds them to both the transfers and the payments.
    @Test func keptBalancesFollowTheLedgerAndTheAuditCatchesADrift() async throws {
        try await CoreHarness.run { core in
            let account = try await core.merchant()
            let payments = core.payments()
            let paid = try await payments.pay(core.checkout(try await core.link(account, amount: 4000)))
            _ = try await payments.pay(core.checkout(try await core.link(account, amount: 700, currency: .usd)))
            _ = try await payments.refund(accountID: account, paymentID: paid.id, amount: 1500, reason: nil)
            try await core.catchUp()
            #expect(
                try await payments.balances(accountID: account) == [Money(minorUnits: 2500, currency: .eur), Money(minorUnits: 700, currency: .usd)])
            #expect(try await payments.ledger.audit().holds)

            try await core.client.query(
                "UPDATE ledger_balances SET balance = balance + 1 WHERE account_id = \(account) AND currency = 'EUR'", logger: core.logger)
            let drifted = try await payments.ledger.audit()
            #expect(drifted.balancesOff == 2, "off from the payments and from the transfers: \(drifted)")
            try await core.client.query(
                "UPDATE ledger_balances SET balance = balance - 1 WHERE account_id = \(account) AND currency = 'EUR'", logger: core.logger)
        }
    }
}
