import Foundation
import KassaTestSupport
import PostgresNIO
import Synchronization
import Testing

@testable import PaymentCore

@Suite("Group commit: durable before answered, a batch judges as one at a time would")
struct GroupCommitTests {
    /// A COMMIT that waits while the test holds advisory lock 4242, and fails for payments described
    /// "fail at commit": a deferred constraint trigger, run by PostgreSQL inside COMMIT itself.
    static func holdCommits(_ core: CoreHarness) async throws {
        try await core.client.query(
            """
            CREATE FUNCTION test_hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_advisory_xact_lock_shared(4242);
                IF NEW.description = 'fail at commit' THEN
                    RAISE EXCEPTION 'refused at commit' USING ERRCODE = 'check_violation';
                END IF;
                RETURN NULL;
            END $$
            """,
            logger: core.logger
        )
        try await core.client.query(
            """
            CREATE CONSTRAINT TRIGGER test_hold_commit AFTER INSERT ON payments
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_hold_commit()
            """,
            logger: core.logger
        )
    }

    @Test func aHeldCommitResumesNoWaiterAndAFailedOneFailsTheWholeBatch() async throws {
        try await CoreHarness.run { core in
            // setup: one start batch at a time, so the next batch queues behind the held one
            try await Self.holdCommits(core)
            let account = try await core.merchant()
            let payments = core.payments(settings: .init(batches: .init(inFlight: 1, maximumBatch: 256)))
            let held = try await core.link(account)
            let later = [try await core.link(account), try await core.link(account)]
            let failing = try await payments.links.create(
                accountID: account, .init(amount: Money(minorUnits: 700, currency: .eur), description: "fail at commit")
            )

            try await TestServices.withConnection(to: core.databaseName) { gate in
                _ = try await gate.query("SELECT pg_advisory_lock(4242)", logger: core.logger)
                let seen = Seen()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    func pay(_ link: PaymentLink) {
                        group.addTask {
                            do {
                                let outcome = try await payments.checkout.pay(core.checkout(link))
                                seen.done.withLock { $0[link.id] = outcome }
                            } catch {
                                seen.errors.withLock { $0[link.id] = String(describing: error) }
                            }
                        }
                    }
                    // MUT 1: the first batch reaches COMMIT and waits there
                    pay(held)
                    // Until the batch waits on the lock (polled: a busy machine takes longer than a fixed pause).
                    let waitUntil = ContinuousClock.now.advanced(by: .seconds(20))
                    while ContinuousClock.now < waitUntil,
                        try await core.count("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted") == 0
                    {
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(seen.done.withLock { $0.isEmpty } && seen.errors.withLock { $0.isEmpty }, "a waiter resumed before COMMIT returned")
                    #expect(try await core.count("SELECT count(*) FROM payments") == 0, "the held batch is visible")
                    #expect(try await core.count("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted") >= 1)

                    // MUT 2: three more queue behind it and leave as one batch, one of which fails at COMMIT
                    for link in later + [failing] { pay(link) }
                    // Until all three wait behind it (polled, as above).
                    let queuedBy = ContinuousClock.now.advanced(by: .seconds(20))
                    while ContinuousClock.now < queuedBy, payments.starter.queued < 3 { try await Task.sleep(for: .milliseconds(50)) }
                    #expect(payments.starter.queued == 3)
                    _ = try await gate.query("SELECT pg_advisory_unlock(4242)", logger: core.logger)
                    try await group.waitForAll()
                }

                // validate: the held one was answered after its COMMIT, with its payment durable
                guard case .paid(let receipt) = seen.done.withLock({ $0[held.id] }) else {
                    Issue.record(
                        "the held checkout: \(String(describing: seen.done.withLock { $0[held.id] })) \(seen.errors.withLock { $0[held.id] } ?? "")")
                    return
                }
                #expect(receipt.status == .succeeded)
                // The failed COMMIT failed every item of its batch, and wrote none of them.
                for link in later + [failing] {
                    #expect(
                        seen.errors.withLock { $0[link.id] }?.contains("COMMIT failed") == true,
                        "\(link.id): \(String(describing: seen.done.withLock { $0[link.id] }))")
                }
                #expect(try await core.count("SELECT count(*) FROM payments") == 1)
                #expect(try await core.count("SELECT count(*) FROM payment_links WHERE uses > 0") == 1)
            }
        }
    }

    /// What the checkouts of a test came to, by link id.
    final class Seen: Sendable {
        let done = Mutex<[LinkID: CheckoutOutcome]>([:])
        let errors = Mutex<[LinkID: String]>([:])
    }

    /// What one item came to, with payment ids replaced by the item that made the payment, so two
    /// runs over different links compare.
    enum Judged: Equatable, CustomStringConvertible {
        case started
        case replayOf(Int)
        case refused(String)
        case failed

        var description: String {
            switch self {
            case .started: "started"
            case .replayOf(let item): "replay of #\(item)"
            case .refused(let why): why
            case .failed: "failed"
            }
        }
    }

    /// Random batches mixing duplicate attempt tokens, two or more submits of one single-use link,
    /// revoked, expired and used-up links and one item PostgreSQL refuses outright give each item
    /// the outcome it gets when the same items come one at a time, in the same order.
    @Test func aBatchJudgesEachItemAsOneAtATimeWould() async throws {
        try await CoreHarness.run { core in
            let account = try await core.merchant()
            let payments = core.payments()
            let method = try #require(try await payments.methods.list(accountID: account).first { $0.issuerID == "iss_test_visa" }).id
            var generator = SeededGenerator(seed: 20261201)
            for round in 0..<12 {
                // The same scenario twice, on two sets of links in the same state: as one batch, then one at a time.
                let scenario = Scenario.random(using: &generator)
                var judged: [[Judged]] = []
                var uses: [[Int]] = []
                for mode in ["batch", "serial"] {
                    let links = try await scenario.links(core, account: account, payments: payments)
                    let items = scenario.items.map { $0.startItem(payments, account: account, method: method, links: links, run: "\(round)\(mode)") }
                    var results: [Result<StartRow, any Error>] = []
                    if mode == "batch" {
                        results = await payments.starter.submitAll(items)
                    } else {
                        for item in items { results.append(await Result(catching: { try await payments.starter.submit(item) })) }
                    }
                    judged.append(Self.judge(results, items: items))
                    var counts: [Int] = []
                    for link in links { counts.append(try #require(try await payments.links.find(id: link.id)).uses) }
                    uses.append(counts)
                }
                #expect(judged[0] == judged[1], "round \(round): \(scenario)\nbatch:  \(judged[0])\nserial: \(judged[1])")
                #expect(uses[0] == uses[1], "round \(round): uses differ")
                #expect(judged[0].contains(.failed), "round \(round): the bad item must fail")
            }
        }
    }

    static func judge(_ results: [Result<StartRow, any Error>], items: [StartItem]) -> [Judged] {
        results.map { result in
            switch result {
            case .failure: return .failed
            case .success(let row):
                switch row.outcome {
                case .started: return .started
                case .replay:
                    return items.firstIndex { $0.paymentID == row.paymentID }.map { .replayOf($0) } ?? .refused("replay of an unknown payment")
                case .revoked, .expired, .closed, .stale, .conflict, .notFound, .usedUp: return .refused(row.outcome.rawValue)
                }
            }
        }
    }

    /// Links in every state, and items that pay them.
    struct Scenario: CustomStringConvertible {
        enum Kind: CaseIterable { case singleUse, twoUses, revoked, expired, usedUp, open }
        struct Item {
            let link: Int
            let token: Int
            let bad: Bool

            func startItem(_ payments: Payments, account: AccountID, method: MethodID, links: [PaymentLink], run: String) -> StartItem {
                let link = links[self.link]
                let request = CheckoutRequest(
                    subject: .link(link), attemptToken: "tok_\(run)_\(token)", card: CoreHarness.card("4242424242424242"), email: "payer@example.com"
                )
                let issuer = Issuer.testVisa
                var item = payments.startItem(
                    request, accountID: account, currency: link.amount.currency, issuer: issuer,
                    method: PaymentMethod(id: MethodID("pm_unused"), accountID: account, issuerID: issuer.id, currencies: [.eur], createdAt: Date()),
                    fingerprint: request.card.fingerprint(key: payments.fingerprintKey), risk: RiskAssessment(score: 0, rules: [], blocked: false)
                )
                item.methodID = method
                // A value PostgreSQL refuses (card_last4 must be four digits): it fails the whole statement.
                if bad { item.last4 = "abcd" }
                return item
            }
        }

        let kinds: [Kind]
        let items: [Item]

        static func random(using generator: inout SeededGenerator) -> Scenario {
            let kinds = Kind.allCases + (0..<2).map { _ in Kind.allCases.randomElement(using: &generator)! }
            let count = Int.random(in: 6...14, using: &generator)
            // Fewer tokens than items, so some repeat; a token belongs to one link, as the checkout
            // page signs it for one link. Several tokens on one single-use link pay it twice or more.
            let tokens = count - 2
            let tokenLinks = (0..<tokens).map { _ in Int.random(in: 0..<kinds.count, using: &generator) }
            let bad = Int.random(in: 0..<count, using: &generator)
            var items: [Item] = []
            for index in 0..<count {
                if index == bad {
                    // Its own token on the open link, so it reaches the INSERT that PostgreSQL refuses.
                    items.append(Item(link: Kind.allCases.firstIndex(of: .open)!, token: 1000, bad: true))
                } else {
                    let token = Int.random(in: 0..<tokens, using: &generator)
                    items.append(Item(link: tokenLinks[token], token: token, bad: false))
                }
            }
            return Scenario(kinds: kinds, items: items)
        }

        var description: String { "links \(kinds), items \(items.map { "L\($0.link)t\($0.token)\($0.bad ? "!" : "")" })" }

        func links(_ core: CoreHarness, account: AccountID, payments: Payments) async throws -> [PaymentLink] {
            var links: [PaymentLink] = []
            for kind in kinds {
                let link = try await core.link(account, maxUses: kind == .twoUses ? 2 : (kind == .open ? 100 : 1))
                switch kind {
                case .revoked: _ = try await payments.links.revoke(accountID: account, id: link.id)
                case .expired:
                    try await core.client.query(
                        "UPDATE payment_links SET created_at = now() - interval '2 days', expires_at = now() - interval '1 second' WHERE id = \(link.id)",
                        logger: core.logger
                    )
                case .usedUp: try await core.client.query("UPDATE payment_links SET uses = max_uses WHERE id = \(link.id)", logger: core.logger)
                case .singleUse, .twoUses, .open: break
                }
                links.append(link)
            }
            return links
        }
    }
}

/// A deterministic random source (SplitMix64), so a failing property names its seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Issuer {
    /// The test Visa issuer as the catalogue has it (enough for building start items).
    static var testVisa: Issuer {
        Issuer(id: "iss_test_visa", name: "Kassa Test Visa", network: .visa, binRanges: [], currencies: [.eur, .usd])
    }
}
