import Crypto
import Foundation
import Logging
import PaymentCore
import PostgresNIO

/// `kassa seed-demo`: a demo merchant to explore Kassa with, for a development server only (the
/// command refuses a server whose base URL is https). Its password is never a constant: `make
/// run` generates one into `.data/demo-password` and prints it; without one a random password is
/// made and printed. Safe to run again.
public enum DemoSeeder {
    public static let email = "demo@kassa.test"
    public static let accountName = "Demo Coffee Roasters"

    /// A password of 20 random letters and digits in groups of five, easy to read out.
    public static func randomPassword() -> String { ReadableCode.password() }

    /// The cards the demo merchant accepts: every test network in the currencies a
    /// European roaster with US and UK customers would take.
    static let demoMethods: [(String, [String])] = [
        ("iss_test_visa", ["EUR", "USD", "GBP"]),
        ("iss_test_mastercard", ["EUR", "USD", "GBP"]),
        ("iss_test_amex", ["EUR", "USD"]),
        ("iss_rheinland", ["EUR"]),
    ]

    /// Creates the demo merchant unless it exists; returns true when it was created. Its history
    /// is made through the payment core itself (simulated issuer, real transactions), so every
    /// payment has its events and ledger entries like any other.
    /// When the merchant exists already, its password becomes `password`, so what is printed holds.
    @discardableResult
    public static func seed(database: PostgresClient, secretKey: [UInt8], password: String, logger: Logger) async throws -> Bool {
        let accounts = AccountStore(database: database, logger: logger)
        let hash = try await PasswordHasher().hash(password)
        if let existing = try await accounts.user(email: email) {
            try await accounts.updatePassword(userID: existing.id, passwordHash: hash)
            return false
        }
        let user = try await accounts.createAccount(name: "Mira Demo", business: accountName, email: email, passwordHash: hash)
        let account = user.accountID
        let issuers = IssuerCatalogCache(database: database, logger: logger)
        let payments = Payments(
            database: database,
            issuers: issuers,
            issuer: GuardedIssuer(
                gateway: IssuerSimulator(database: database, logger: logger), breaker: CircuitBreaker(), timeout: .seconds(10)
            ),
            fingerprintKey: Payments.fingerprintKey(secret: secretKey),
            logger: logger
        )
        for (issuer, currencies) in demoMethods {
            _ = try await payments.methods.add(accountID: account, issuerID: issuer, currencies: currencies)
        }

        func link(
            _ amount: Int64, _ currency: Currency, _ description: String, uses: Int = 1, days: Int = 7, realm: String? = nil
        ) async throws -> PaymentLink {
            try await payments.links.create(
                accountID: account,
                .init(
                    amount: Money(minorUnits: amount, currency: currency), description: description, expiresIn: days * 86400, maxUses: uses,
                    realm: realm)
            )
        }
        func pay(_ link: PaymentLink, _ card: String, _ email: String, _ name: String) async throws -> PaymentID {
            let network = CardNetwork.detect(card) ?? .visa
            let details = CardDetails(
                number: card, network: network, expMonth: 12, expYear: 2030, cvc: network == .amex ? "1234" : "123", holderName: name
            )
            let outcome = try await payments.checkout.pay(
                CheckoutRequest(subject: .link(link), attemptToken: Identifier.make("seed"), card: details, email: email))
            guard case .paid(let receipt) = outcome else { throw PaymentError.notFound }
            return receipt.paymentID
        }

        // Two sites: the shop and the gift-card page (realms); the booking form is the roastery's own site's.
        let blend = try await link(2450, .eur, "House blend, 1 kg", uses: 100, days: 30, realm: "shop.demo-coffee.example")
        _ = try await pay(blend, "4242424242424242", "lena.fischer@example.com", "Lena Fischer")
        _ = try await pay(blend, "5555555555554444", "marco.rossi@example.com", "Marco Rossi")
        _ = try await pay(blend, "4000000000000002", "tom.baker@example.com", "Tom Baker")
        _ = try await pay(blend, "4000000000009995", "tom.baker@example.com", "Tom Baker")
        _ = try await pay(blend, "378282246310005", "tom.baker@example.com", "Tom Baker")
        let returned = try await pay(blend, "4242424242424242", "ines.duarte@example.com", "Inês Duarte")
        _ = try await payments.refund(accountID: account, paymentID: returned, amount: nil, reason: "Bag arrived damaged")

        let wholesale = try await link(125_000, .usd, "Wholesale order #1042 — 50 kg Ethiopia Guji")
        let order = try await pay(wholesale, "4242424242424242", "orders@bluebottle-cafe.example", "Bluebottle Café LLC")
        _ = try await payments.refund(accountID: account, paymentID: order, amount: 25_000, reason: "Short shipment: 10 kg")

        let gift = try await link(3000, .gbp, "Gift card, £30", uses: 50, days: 90, realm: "gifts.demo-coffee.example")
        _ = try await pay(gift, "5555555555554444", "sarah.jones@example.co.uk", "Sarah Jones")
        _ = try await pay(gift, "4000000000000127", "sarah.jones@example.co.uk", "Sarah Jones")

        let workshop = try await link(4500, .eur, "Espresso workshop, Saturday 10:00", uses: 1, days: 2)
        _ = workshop
        let cupping = try await link(1800, .eur, "Cupping session (cancelled event)", uses: 20)
        _ = try await payments.links.revoke(accountID: account, id: cupping.id)

        // Ninety days of history behind those, with a booking form whose answers it holds.
        let booking = try await payments.forms.create(
            accountID: account,
            .init(
                title: "Espresso workshop booking", description: "Two hours at the roastery: dialling in, milk, latte art. Beans to take home.",
                currency: .eur, amount: 4500, minimum: nil, maximum: nil,
                fields: [
                    FormField(
                        key: "f1", label: "Session", kind: .select, required: true, options: ["Saturday 10:00", "Saturday 14:00", "Sunday 11:00"]),
                    FormField(key: "f2", label: "Espresso machine at home", kind: .select, required: false, options: ["Yes", "No"]),
                ],
                allowedOrigins: ["https://demo-coffee.example"], redirectURL: nil, buttonLabel: "Book and pay", brandColor: "#6b3e26",
                maxUses: nil, expiresAt: nil, realm: "demo-coffee.example"))
        let written = try await database.withTransaction(logger: logger) { connection in
            try await DemoHistory.write(connection, account: account, form: booking.id, logger: logger)
        }
        // The consumers derive its ledger, day totals and notifications now, so the first page shown
        // is complete; the notifications of the history are dated as their events and already read
        // (nobody wants 2,000 unread on a first visit, nor their emails).
        try await EventLog.catchUp(database: database, logger: logger)
        // Every day of that history before today closes into its settlements, paid out.
        let settlements = Settlements(database: database, logger: logger)
        try await settlements.close(until: UTCDay.start(of: Date()))
        try await settlements.payOut()
        let consumers = EventConsumers(
            database: database, log: EventLog(database: database, logger: logger),
            endpoints: WebhookEndpoints(
                database: database, sealingKey: WebhookEndpoints.sealingKey(secret: secretKey), allowPrivateAddresses: false, logger: logger),
            logger: logger)
        while try await consumers.notifyPass() > 0 {}
        try await database.query(
            """
            UPDATE notifications n SET created_at = e.created_at, read_at = e.created_at, emailed_at = e.created_at
            FROM payment_events e
            WHERE n.account_id = \(account) AND e.account_id = n.account_id AND e.id = n.event_id
              AND (e.created_at < now() - interval '1 hour' OR e.type = 'settlement.paid')
            """,
            logger: logger
        )
        logger.info("demo history written", metadata: ["payments": "\(written)"])
        return true
    }
}
