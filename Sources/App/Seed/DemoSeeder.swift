import Logging
import PaymentCore
import PostgresNIO

/// `kassa seed-demo`: a demo merchant to explore Kassa with. Safe to run again.
public enum DemoSeeder {
    public static let email = "demo@kassa.test"
    public static let password = "kassa-demo-merchant"
    public static let accountName = "Demo Coffee Roasters"

    /// The cards the demo merchant accepts: every test network in the currencies a
    /// European roaster with US customers would take.
    static let demoMethods: [(String, [String])] = [
        ("iss_test_visa", ["EUR", "USD", "GBP"]),
        ("iss_test_mastercard", ["EUR", "USD", "GBP"]),
        ("iss_test_amex", ["EUR", "USD"]),
        ("iss_rheinland", ["EUR"]),
    ]

    /// Creates the demo merchant unless it exists; returns true when it was created.
    @discardableResult
    public static func seed(database: PostgresClient, logger: Logger) async throws -> Bool {
        let accounts = AccountStore(database: database, logger: logger)
        if try await accounts.user(email: email) != nil { return false }
        let hash = try await PasswordHasher().hash(password)
        let user = try await accounts.createAccount(name: accountName, email: email, passwordHash: hash)
        let methods = PaymentMethods(database: database, issuers: IssuerCatalogCache(database: database, logger: logger), logger: logger)
        for (issuer, currencies) in demoMethods {
            _ = try await methods.add(accountID: user.accountID, issuerID: issuer, currencies: currencies)
        }
        return true
    }
}
