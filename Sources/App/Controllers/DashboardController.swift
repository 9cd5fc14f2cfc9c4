import Hummingbird
import PaymentCore

/// The merchant's home page.
struct DashboardController: Sendable {
    let renderer: Renderer
    let payments: Payments

    func addRoutes(to router: RouterGroup<AppRequestContext>) {
        router.get("/", use: self.home)
        router.get("/dashboard", use: self.show)
    }

    struct DashboardView: Sendable {
        let accountName: String
        let firstName: String
        let balances: [Balance]
        let hasBalances: Bool
        let hasMethods: Bool
    }

    struct Balance: Sendable {
        let currency: String
        let currencyName: String
        let amount: String
    }

    func home(_ request: Request, context: AppRequestContext) async throws -> Response {
        Response(status: .seeOther, headers: [.location: context.session == nil ? "/login" : "/dashboard"])
    }

    func show(_ request: Request, context: AppRequestContext) async throws -> Response {
        let session = try context.requireSession(returnTo: "/dashboard")
        let balances = try await payments.balances(accountID: session.accountID)
        let methods = try await payments.methods.list(accountID: session.accountID)
        return renderer.page(
            "dashboard/index",
            title: "Dashboard",
            DashboardView(
                accountName: session.accountName,
                firstName: session.userName.split(separator: " ").first.map(String.init) ?? session.userName,
                balances: balances.map { Balance(currency: $0.currency.code, currencyName: $0.currency.name, amount: $0.formatted) },
                hasBalances: !balances.isEmpty,
                hasMethods: !methods.isEmpty
            ),
            context: context
        )
    }
}
