import Foundation
import Hummingbird
import Mustache
import PaymentCore

/// The merchant's home page.
struct DashboardController: Sendable {
    let renderer: Renderer
    let payments: Payments
    let chartCache = ChartCache()
    /// Each account's realms for the charts' "site" choice, read at most once a minute.
    let realms = ExpiringCache<AccountID, [String]>(ttl: .seconds(60), capacity: 10_000)
    /// The recent payments' rendered rows (`KeptRows`).
    let keptRows = RowCache<ListedRow.Key>(capacity: 10_000)

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
        /// The last 30 days per currency, from the kept totals, rendered (`dashboard/charts`, escaped
        /// there) and kept a few seconds per merchant (`ChartCache`).
        let chartsHTML: String
        let hasCharts: Bool
        /// Set when those totals lag the payments by more than a second.
        let chartsAsOf: String?
        /// The charts' site (realm) choice: "All sites" and the account's realms; empty when it names none.
        let realms: [PaymentsController.StatusOption]
        let hasRealms: Bool
        /// The site the charts are narrowed to.
        let realm: String?
        /// Set when the balances lag the payments by more than a second.
        let balancesAsOf: String?
        let hasMethods: Bool
        let payments: any KeptRowList
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
        var context = context
        let session = context.session
        // One statement for the balances, both consumers' lag, the checklist, the header's badge and
        // the recent payments (`Payments.dashboardAndRecent`; the recent payments apart, from the replica, when
        // there is one), one more for the links running out when some do; the charts and the
        // merchant's sites are kept.
        let (overview, unread, expiring, read) = try await payments.dashboardAndRecent(accountID: session.accountID, expiringWithin: 3 * 86400)
        context.request.unreadNotifications = unread
        let recent: [ListedPayment]
        if let read {
            recent = read
        } else {
            recent = try await payments.reading(session.accountID) { history in
                try await history.listing(accountID: session.accountID, filter: .init(), limit: PaymentHistory.recentSize).payments
            }
        }
        let known = try await realms.value(session.accountID) {
            try await payments.reading(session.accountID) { try await $0.realms(accountID: session.accountID) }
        }
        let now = Date()
        let asked = request.uri.queryParameters["realm"].map(String.init)
        let realm = asked.flatMap { Realm.isValid($0) && known.contains($0) ? $0 : nil }
        let charts = try await chartsHTML(accountID: session.accountID, now: now, realm: realm)
        let balances = overview.balances
        return renderer.page(
            "dashboard/index",
            title: "Dashboard",
            DashboardView(
                accountName: session.accountName,
                firstName: session.userName.split(separator: " ").first.map(String.init) ?? session.userName,
                balances: balances.map { Balance(currency: $0.currency.code, currencyName: $0.currency.name, amount: $0.formatted) },
                hasBalances: !balances.isEmpty,
                chartsHTML: charts, hasCharts: !charts.isEmpty || realm != nil,
                chartsAsOf: charts.isEmpty || realm != nil ? nil : overview.totalsAsOf.map(Formats.asOf),
                realms: known.isEmpty
                    ? []
                    : [PaymentsController.StatusOption(value: "", label: "All sites", selected: realm == nil)]
                        + known.map { PaymentsController.StatusOption(value: $0, label: $0, selected: $0 == realm) },
                hasRealms: !known.isEmpty, realm: realm,
                balancesAsOf: overview.balancesAsOf.map(Formats.asOf),
                hasMethods: overview.hasMethods,
                payments: KeptRows(recent.map(ListedRow.init), cache: keptRows), hasRecent: !recent.isEmpty,
                expiring: expiring.map { LinksController.row($0, now: now) }, hasExpiring: !expiring.isEmpty
            ),
            context: context,
            bodyClass: "live"
        )
    }

    /// The charts' HTML for the last 30 days ("" when there were no payments). Drawing them is most
    /// of the page's CPU (swift-mustache looks every tag up dynamically, and three currencies are
    /// some 2,000 tags), while the day totals they draw move only as the totals consumer catches up:
    /// a merchant's charts are drawn once and reused for `ChartCache.ttl` (5 s), like the totals' own lag.
    func chartsHTML(accountID: AccountID, now: Date, realm: String? = nil) async throws -> String {
        let day = UTCDay.iso(now) + (realm.map { "|" + $0 } ?? "")
        if let kept = chartCache.get(accountID, day: day) { return kept }
        let days = try await payments.reading(accountID) {
            try await $0.daily(accountID: accountID, from: now.addingTimeInterval(-29 * 86400), through: now, realm: realm)
        }
        let charts = VolumeChart.charts(days, through: now)
        let html = charts.isEmpty ? "" : renderer.render(["charts": charts] as [String: any Sendable], template: "dashboard/charts")
        chartCache.put(accountID, day: day, html: html)
        return html
    }
}

/// Rendered dashboard charts per merchant for a few seconds (and never across a UTC midnight).
final class ChartCache: Sendable {
    private struct Key: Hashable, Sendable {
        let account: AccountID
        let day: String
    }

    /// At most 1,000 merchants' charts (10–30 KB each).
    private let kept: ExpiringCache<Key, String>

    init(ttl: Duration = .seconds(5)) { self.kept = ExpiringCache(ttl: ttl, capacity: 1_000) }

    func get(_ account: AccountID, day: String) -> String? { kept.get(Key(account: account, day: day)) }

    func put(_ account: AccountID, day: String, html: String) { kept.put(Key(account: account, day: day), html) }
}

extension DashboardController.DashboardView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "accountName": accountName
        case "firstName": firstName
        case "balances": balances
        case "hasBalances": hasBalances
        case "chartsHTML": chartsHTML
        case "hasCharts": hasCharts
        case "chartsAsOf": chartsAsOf
        case "realms": realms
        case "hasRealms": hasRealms
        case "realm": realm
        case "balancesAsOf": balancesAsOf
        case "hasMethods": hasMethods
        case "payments": payments
        case "hasRecent": hasRecent
        case "expiring": expiring
        case "hasExpiring": hasExpiring
        default: nil
        }
    }
}

extension DashboardController.Balance: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "currency": currency
        case "currencyName": currencyName
        case "amount": amount
        default: nil
        }
    }
}
