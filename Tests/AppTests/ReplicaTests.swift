import Foundation
import HummingbirdTesting
import KassaTestSupport
import PaymentCore
import PostgresNIO
import Testing

@testable import App

/// Reads from a streaming replica (`ReplicaReads`), against a real primary and a real replica that
/// `scripts/swift-test.sh` starts and holds 10 s behind (`recovery_min_apply_delay`), so a read that
/// must see a merchant's own write cannot pass by luck. Each check that a read came from the stale
/// replica, or did not, is followed by a look at the replica itself: still without the row, so it
/// was without it when the app read.
@Suite struct ReplicaTests {
    /// The pair `scripts/swift-test.sh` starts (KASSA_TEST_REPLICA_PRIMARY_URL, KASSA_TEST_REPLICA_URL).
    static func pair() throws -> (primary: DatabaseConfiguration, replica: DatabaseConfiguration) {
        let environment = TestServices.environment
        let primary = try #require(
            environment["KASSA_TEST_REPLICA_PRIMARY_URL"].flatMap { DatabaseConfiguration(url: $0, maximumConnections: 4) },
            "KASSA_TEST_REPLICA_PRIMARY_URL: run the tests with scripts/swift-test.sh (make test-swift), which starts the replica pair")
        let replica = try #require(
            environment["KASSA_TEST_REPLICA_URL"].flatMap { DatabaseConfiguration(url: $0, maximumConnections: 4) },
            "KASSA_TEST_REPLICA_URL: run the tests with scripts/swift-test.sh (make test-swift)")
        return (primary, replica)
    }

    /// One value from the replica (nil while it does not have the database or the row yet).
    static func onReplica(_ replica: DatabaseConfiguration, database: String, _ sql: String) async -> String? {
        try? await TestServices.withConnection(to: database, on: replica) { connection in
            for try await value in try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestServices.logger).decode(String?.self) {
                return value
            }
            return nil
        }
    }

    /// Polls the replica until `sql` gives `expected` (its replay is held back 10 s).
    static func waitForReplica(_ replica: DatabaseConfiguration, database: String, _ sql: String, toBe expected: String) async throws {
        for _ in 0..<1200 {
            if await onReplica(replica, database: database, sql) == expected { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the replica never gave \(expected) for \(sql)")
    }

    /// A migrated database on the pair's primary, once the replica has replayed it; the app reads
    /// its lists from the replica.
    static func app() async throws -> (TestApp, DatabaseConfiguration) {
        let (primary, replica) = try pair()
        let name = "kassa_r_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        try await TestServices.withConnection(to: primary.database, on: primary) { _ = try await $0.simpleQuery("CREATE DATABASE \(name)").get() }
        var database = primary
        database.database = name
        try await DatabaseTools.migrate(database, directory: TestServices.root + "/Migrations", logger: TestServices.logger)
        var app = try await TestApp.make()
        // The app's own database from TestApp.make stays unused; this one is on the pair.
        app.configuration.database = database
        var replicaDatabase = replica
        replicaDatabase.database = name
        app.configuration.replica = replicaDatabase
        try await waitForReplica(replica, database: name, "SELECT count(*)::text FROM issuers WHERE id = 'iss_test_visa'", toBe: "1")
        return (app, replicaDatabase)
    }

    static func drop(_ name: String) async {
        guard let (primary, _) = try? pair() else { return }
        _ = try? await TestServices.withConnection(to: primary.database, on: primary) {
            try await $0.simpleQuery("DROP DATABASE IF EXISTS \(name) WITH (FORCE)").get()
        }
    }

    /// A merchant who accepts cards, with a €50 link and a secret key.
    static func merchant(_ client: some TestClientProtocol) async throws -> (Browser, (id: String, path: String), String) {
        let merchant = Browser(client)
        try await merchant.signUp(email: AccountsTests.uniqueEmail())
        try await merchant.acceptCards()
        let link = try await merchant.createLink(amount: "50.00")
        return (merchant, link, try await merchant.createAPIKey())
    }

    @Test func aMerchantSeesTheirOwnRefundWhateverTheReplicaLag() async throws {
        let (app, replica) = try await Self.app()
        let name = replica.database
        do {
            try await check(app, replica, name)
        } catch {
            await Self.drop(name)
            throw error
        }
        await Self.drop(name)
    }

    private func check(_ app: TestApp, _ replica: DatabaseConfiguration, _ name: String) async throws {
        try await app.run { client in
            let (merchant, link, key) = try await Self.merchant(client)
            // The merchant's writes so far have reached the replica.
            try await Self.waitForReplica(replica, database: name, "SELECT count(*)::text FROM api_keys", toBe: "1")

            // A payer's payment is not the merchant's own write: the lists come from the replica,
            // which has not replayed it yet.
            let (_, result) = try await Browser(client).pay(link.path)
            let paymentID = String(try #require(result.location).dropFirst("/receipts/".count).prefix { $0 != "?" })
            #expect(!(try await merchant.get("/payments")).body.contains(paymentID), "the history is read from the replica")
            #expect(try await client.api(.get, "/v1/payments", key: key).data.isEmpty, "the API's list is read from the replica")
            #expect(await Self.onReplica(replica, database: name, "SELECT count(*)::text FROM payments") == "0", "the replica caught up too soon")
            // A payment's own page reads the primary.
            #expect(try await merchant.get("/payments/\(paymentID)").body.contains("Succeeded"))
            try await Self.waitForReplica(replica, database: name, "SELECT status FROM payments WHERE id = '\(paymentID)'", toBe: "succeeded")
            #expect(try await merchant.get("/payments").body.contains(paymentID))

            // The merchant refunds: their next reads see it, although the replica is 10 s behind.
            let refund = try await merchant.post(
                "/payments/\(paymentID)/refunds", [("amount", "12.5"), ("reason", "One bag missing"), ("confirm", "yes")])
            #expect(refund.status == .seeOther)
            let page = try await merchant.get("/payments/\(paymentID)")
            #expect(page.body.contains("Partially refunded") && page.body.contains("Refunded €12.50"))
            let history = try await merchant.get("/payments")
            #expect(history.body.contains(paymentID) && history.body.contains("−€12.50 refunded"))
            let csv = try await merchant.get("/payments.csv")
            #expect(csv.body.contains("\(paymentID),") && csv.body.contains(",partially_refunded,50.00,EUR,12.50,"))
            let listed = try await client.api(.get, "/v1/payments", key: key).data
            #expect(listed.first?["status"] as? String == "partially_refunded")
            #expect(listed.first?["amount_refunded"] as? Int == 1250)
            // A refund through the API: the same.
            let second = try await client.api(.post, "/v1/payments/\(paymentID)/refunds", key: key, json: #"{"amount":250}"#)
            #expect(second.status == .created)
            #expect(try await client.api(.get, "/v1/payments", key: key).data.first?["amount_refunded"] as? Int == 1500)
            #expect(
                await Self.onReplica(replica, database: name, "SELECT status FROM payments WHERE id = '\(paymentID)'") == "succeeded",
                "the replica caught up too soon")

            // Both servers answered, and the replica's lag is a metric.
            let metrics = try await merchant.get("/metrics").body
            #expect(metrics.contains(#"kassa_reads_total{server="replica"}"#) && metrics.contains(#"kassa_reads_total{server="primary"}"#))
            #expect(metrics.contains("kassa_replica_lag_seconds") && metrics.contains("kassa_replica_lag_bytes"))
            #expect(metrics.contains("kassa_replica_up 1"))
        }
    }

    /// A replica that cannot be reached is not used: every list comes from the primary, nothing fails.
    @Test func listsComeFromThePrimaryWhenTheReplicaIsDown() async throws {
        var app = try await TestApp.make()
        var unreachable = app.configuration.database
        unreachable.port = 1
        app.configuration.replica = unreachable
        try await app.run { client in
            let (merchant, link, key) = try await Self.merchant(client)
            let (_, result) = try await Browser(client).pay(link.path)
            let paymentID = String(try #require(result.location).dropFirst("/receipts/".count).prefix { $0 != "?" })
            #expect(try await merchant.get("/payments").body.contains(paymentID))
            #expect(try await client.api(.get, "/v1/payments", key: key).data.first?["id"] as? String == paymentID)
            #expect(try await merchant.get("/dashboard").status == .ok)
            #expect(try await merchant.get("/settlements").status == .ok)
            let metrics = try await merchant.get("/metrics").body
            #expect(metrics.contains("kassa_replica_up 0"))
            #expect(!metrics.contains(#"kassa_reads_total{server="replica"} 1"#))
        }
    }

    @Test func writePositionsParse() {
        #expect(ReplicaReads.parseLSN("16/B374D848") == 0x16_B374_D848)
        #expect(ReplicaReads.parseLSN("0/0") == 0)
        for bad in ["", "16", "16/", "/1", "G/1", "1/2/3", "100000000/0"] { #expect(ReplicaReads.parseLSN(bad) == nil, "\(bad)") }
    }
}
