import Foundation
import Hummingbird
import PaymentCore

/// The merchant's home page.
struct DashboardController: Sendable {
    let renderer: Renderer
    let payments: Payments

    func addRoutes(to router: RouterGroup<AppRequestContext>) {
        router.get("/", use: self.home)
    }

    func addMerchantRoutes(to router: RouterGroup<MerchantContext>) {
        router.get("/dashboard", use: self.show)
    }

    struct DashboardView: Sendable {
        let accountName: String
        let firstName: String
        let balances: [Balance]
        let hasBalances: Bool
        /// The last 30 days per currency, from the kept totals.
        let charts: [VolumeChart]
        let hasCharts: Bool
        /// Set when those totals lag the payments by more than a second.
        let chartsAsOf: String?
        /// Set when the balances lag the payments by more than a second.
        let balancesAsOf: String?
        let hasMethods: Bool
        let payments: [PaymentsController.PaymentRow]
        let hasRecent: Bool
        let expiring: [LinksController.LinkRow]
        let hasExpiring: Bool
    }

    struct Balance: Sendable {
        let currency: String
        let currencyName: String
        let amount: String
    }

    func home(_ request: Request, context: AppRequestContext) async throws -> Response {
        Response(status: .seeOther, headers: [.location: context.session == nil ? "/login" : "/dashboard"])
    }

    func show(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let balances = try await payments.balances(accountID: session.accountID)
        let asOf = try await payments.ledger.asOf()
        let methods = try await payments.methods.list(accountID: session.accountID)
        let recent = try await payments.history.page(accountID: session.accountID, filter: .init(), limit: 10).payments
        let expiring = try await payments.links.expiringSoon(accountID: session.accountID, within: 3 * 86400)
        let now = Date()
        let days = try await payments.history.daily(accountID: session.accountID, from: now.addingTimeInterval(-29 * 86400), through: now)
        let charts = VolumeChart.charts(days, through: now)
        let chartsAsOf = charts.isEmpty ? nil : try await payments.history.totalsAsOf(filter: .init())
        return renderer.page(
            "dashboard/index",
            title: "Dashboard",
            DashboardView(
                accountName: session.accountName,
                firstName: session.userName.split(separator: " ").first.map(String.init) ?? session.userName,
                balances: balances.map { Balance(currency: $0.currency.code, currencyName: $0.currency.name, amount: $0.formatted) },
                hasBalances: !balances.isEmpty,
                charts: charts, hasCharts: !charts.isEmpty, chartsAsOf: chartsAsOf.map(Formats.asOf),
                balancesAsOf: asOf.map(Formats.asOf),
                hasMethods: !methods.isEmpty,
                payments: recent.map(PaymentsController.row), hasRecent: !recent.isEmpty,
                expiring: expiring.map { LinksController.row($0, now: now) }, hasExpiring: !expiring.isEmpty
            ),
            context: context,
            bodyClass: "live"
        )
    }
}
