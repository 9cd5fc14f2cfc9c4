import Foundation
import HummingbirdTesting
import KassaTestSupport
import PaymentCore
import PostgresNIO
import Testing

@testable import App

/// A signed-up merchant driven through its pages, and a payer with a browser of their own.
extension Browser {
    /// Accepts the test Visa (and Mastercard) in euros and dollars.
    func acceptCards(_ issuers: [String] = ["iss_test_visa", "iss_test_mastercard"], currencies: [String] = ["EUR", "USD"]) async throws {
        for issuer in issuers {
            _ = try await get("/payment-methods")
            let response = try await post("/payment-methods", [("issuer", issuer)] + currencies.map { ("currencies_" + issuer, $0) })
            #expect(response.status == .seeOther, "adding \(issuer)")
        }
    }

    /// Creates a link through the form; returns its id and the signed path a payer opens.
    func createLink(
        amount: String = "12.50", currency: String = "EUR", description: String = "Two bags of house blend", uses: Int = 1
    ) async throws -> (id: String, path: String) {
        _ = try await get("/links/new")
        var fields = [("amount", amount), ("currency", currency), ("description", description), ("expires_in", "604800")]
        if uses > 1 { fields += [("uses", "multiple"), ("max_uses", String(uses))] }
        let created = try await post("/links", fields)
        let location = try #require(created.location, "link created: \(created.status) \(created.body.prefix(2000))")
        let page = try await get(location)
        let url = try #require(Self.attribute(in: page.body, after: #"id="link-url" type="text" readonly value=""#))
        let path = String(url.dropFirst("http://127.0.0.1:8080".count)).replacingOccurrences(of: "&amp;", with: "&")
        return (String(location.dropFirst("/links/".count)), path)
    }

    /// The text up to the next quote after `marker`.
    static func attribute(in html: String, after marker: String) -> String? {
        guard let range = html.range(of: marker) else { return nil }
        let rest = html[range.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }

    static let goodCard: [(String, String)] = [
        ("card_number", "4242 4242 4242 4242"), ("exp_month", "12"), ("exp_year", "30"), ("cvc", "123"),
        ("cardholder_name", "Paula Payer"), ("email", "paula@example.com"),
    ]

    /// Opens the checkout and submits the card form it rendered; returns the checkout page too.
    func pay(_ path: String, card: [(String, String)] = Browser.goodCard) async throws -> (checkout: Page, result: Page) {
        let checkout = try await get(path)
        let token = Self.attribute(in: checkout.body, after: #"name="attempt_token" value=""#) ?? ""
        let result = try await post(path, [("attempt_token", token)] + card, csrf: "")
        return (checkout, result)
    }
}

extension TestApp {
    /// One integer from SQL on this app's database.
    func count(_ query: PostgresQuery) async throws -> Int {
        try await TestServices.withConnection(to: databaseName) { connection in
            let rows = try await connection.query(query, logger: TestServices.logger)
            for try await value in rows.decode(Int64.self) { return Int(value) }
            return 0
        }
    }

    /// One text value from SQL on this app's database, or nil.
    func text(_ query: PostgresQuery) async throws -> String? {
        try await TestServices.withConnection(to: databaseName) { connection in
            let rows = try await connection.query(query, logger: TestServices.logger)
            for try await value in rows.decode(String.self) { return value }
            return nil
        }
    }

    /// Every text value of the first column, in order.
    func texts(_ query: PostgresQuery) async throws -> [String] {
        try await TestServices.withConnection(to: databaseName) { connection in
            let rows = try await connection.query(query, logger: TestServices.logger)
            var values: [String] = []
            for try await value in rows.decode(String.self) { values.append(value) }
            return values
        }
    }

    func execute(_ query: PostgresQuery) async throws {
        try await TestServices.withConnection(to: databaseName) { connection in
            _ = try await connection.query(query, logger: TestServices.logger)
        }
    }
}

extension TestApp {
    /// Runs the ledger and totals consumers until they have read everything (the app's own workers
    /// are off in tests), so derived numbers (history totals, balances) are current.
    func drain() async throws {
        var database = configuration.database
        database.maximumConnections = 2
        try await DatabaseTools.withClient(database, logger: TestServices.logger) { client in
            try await TestServices.catchUp(client)
        }
    }
}
