import Logging
import PostgresNIO

/// `kassa seed-demo`: a demo merchant to explore Kassa with. Safe to run again.
public enum DemoSeeder {
    public static let email = "demo@kassa.test"
    public static let password = "kassa-demo-merchant"
    public static let accountName = "Demo Coffee Roasters"

    /// Creates the demo merchant unless it exists; returns true when it was created.
    @discardableResult
    public static func seed(database: PostgresClient, logger: Logger) async throws -> Bool {
        let accounts = AccountStore(database: database, logger: logger)
        if try await accounts.user(email: email) != nil { return false }
        let hash = try await PasswordHasher().hash(password)
        _ = try await accounts.createAccount(name: accountName, email: email, passwordHash: hash)
        return true
    }
}
