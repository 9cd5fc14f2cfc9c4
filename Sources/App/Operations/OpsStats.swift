import Foundation
import PaymentCore
import Synchronization

/// What this process saw in the last 24 hours, minute by minute, for the operator's console:
/// checkouts by outcome with their latency (in the buckets of `kassa_checkout_duration_seconds`),
/// HTTP requests and server errors, and each merchant's API requests, errors and latest errors.
/// The same events feed `/metrics`, so `/ops` and the Grafana dashboard agree; both are per
/// process (behind a load balancer, Prometheus sums the processes).
final class OpsStats: Sendable {
    static let minutes = 24 * 60
    /// Upper bounds of the latency buckets, seconds (the last bucket is everything above).
    static let bounds: [Double] = KassaMetrics.checkoutBuckets.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }

    struct Minute: Sendable {
        var minute: Int = -1
        var checkouts = 0
        var succeeded = 0
        var latency = [Int](repeating: 0, count: OpsStats.bounds.count + 1)
        var requests = 0
        var serverErrors = 0
    }

    struct APIError: Sendable, Equatable {
        let at: Date
        let method: String
        let route: String
        let status: Int
        let code: String
    }

    struct AccountAPI: Sendable {
        /// Requests and errors (4xx and 5xx) per minute, keyed by minute number.
        var requests: [Int: (total: Int, errors: Int)] = [:]
        var recentErrors: [APIError] = []
    }

    private let state = Mutex<(minutes: [Minute], accounts: [String: AccountAPI])>(
        ([Minute](repeating: Minute(), count: OpsStats.minutes), [:]))
    private let clock: @Sendable () -> Date

    init(clock: @escaping @Sendable () -> Date = { Date() }) {
        self.clock = clock
    }

    private func minute(of date: Date) -> Int { Int(date.timeIntervalSince1970 / 60) }

    private func slot(_ minutes: inout [Minute], _ now: Int) -> Int {
        let index = now % Self.minutes
        if minutes[index].minute != now { minutes[index] = Minute(minute: now) }
        return index
    }

    /// A checkout's outcome label (`CheckoutOutcome.label`) and duration.
    func checkout(_ outcome: String, _ duration: Duration) {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        let bucket = Self.bounds.firstIndex { seconds <= $0 } ?? Self.bounds.count
        let now = minute(of: clock())
        state.withLock { state in
            let index = slot(&state.minutes, now)
            state.minutes[index].checkouts += 1
            if outcome == PaymentStatus.succeeded.rawValue || outcome == PaymentStatus.authorized.rawValue { state.minutes[index].succeeded += 1 }
            state.minutes[index].latency[bucket] += 1
        }
    }

    func request(status: Int) {
        let now = minute(of: clock())
        state.withLock { state in
            let index = slot(&state.minutes, now)
            state.minutes[index].requests += 1
            if status >= 500 { state.minutes[index].serverErrors += 1 }
        }
    }

    /// One API request of a merchant; an error (status ≥ 400) is kept among its latest ten.
    func api(accountID: AccountID, method: String, route: String, status: Int, code: String?) {
        let date = clock()
        let now = minute(of: date)
        state.withLock { state in
            var account = state.accounts[accountID.rawValue] ?? AccountAPI()
            var counts = account.requests[now] ?? (0, 0)
            counts.total += 1
            if status >= 400 {
                counts.errors += 1
                account.recentErrors.insert(APIError(at: date, method: method, route: route, status: status, code: code ?? ""), at: 0)
                if account.recentErrors.count > 10 { account.recentErrors.removeLast() }
            }
            account.requests[now] = counts
            if account.requests.count > Self.minutes { account.requests = account.requests.filter { $0.key > now - Self.minutes } }
            state.accounts[accountID.rawValue] = account
        }
    }

    struct Window: Sendable, Equatable {
        var checkouts = 0
        var succeeded = 0
        var requests = 0
        var serverErrors = 0
        var latency = [Int](repeating: 0, count: OpsStats.bounds.count + 1)
        let seconds: Double

        var checkoutsPerSecond: Double { Double(checkouts) / seconds }
        var successRate: Double? { checkouts == 0 ? nil : Double(succeeded) / Double(checkouts) }
        var errorRate: Double? { requests == 0 ? nil : Double(serverErrors) / Double(requests) }

        /// The latency below which `q` of the checkouts fell, interpolated within its bucket as
        /// Prometheus's `histogram_quantile` does; nil without checkouts.
        func quantile(_ q: Double) -> Double? {
            let total = latency.reduce(0, +)
            guard total > 0 else { return nil }
            let rank = q * Double(total)
            var seen = 0
            for (index, count) in latency.enumerated() {
                if Double(seen + count) >= rank, count > 0 {
                    guard index < OpsStats.bounds.count else { return OpsStats.bounds.last }
                    let lower = index == 0 ? 0 : OpsStats.bounds[index - 1]
                    let upper = OpsStats.bounds[index]
                    return lower + (upper - lower) * (rank - Double(seen)) / Double(count)
                }
                seen += count
            }
            return OpsStats.bounds.last
        }
    }

    /// The platform over the last `minutes` minutes (the current one included).
    func window(minutes: Int) -> Window {
        let now = minute(of: clock())
        return state.withLock { state in
            var window = Window(seconds: Double(minutes * 60))
            for slot in state.minutes where slot.minute > now - minutes && slot.minute <= now {
                window.checkouts += slot.checkouts
                window.succeeded += slot.succeeded
                window.requests += slot.requests
                window.serverErrors += slot.serverErrors
                for (index, count) in slot.latency.enumerated() { window.latency[index] += count }
            }
            return window
        }
    }

    struct AccountWindow: Sendable, Equatable {
        var requests = 0
        var errors = 0
        var lastMinute = 0
        var recentErrors: [APIError] = []
    }

    /// A merchant's API use over the last `minutes` minutes, its requests in the current minute,
    /// and its latest errors.
    func account(_ accountID: AccountID, minutes: Int = 24 * 60) -> AccountWindow {
        let now = minute(of: clock())
        return state.withLock { state in
            guard let account = state.accounts[accountID.rawValue] else { return AccountWindow() }
            var window = AccountWindow(recentErrors: account.recentErrors)
            for (minute, counts) in account.requests where minute > now - minutes {
                window.requests += counts.total
                window.errors += counts.errors
                if minute == now { window.lastMinute = counts.total }
            }
            return window
        }
    }

    /// API errors per merchant over the last 24 hours (for sorting the merchant list).
    func apiErrorsByAccount() -> [String: Int] {
        let now = minute(of: clock())
        return state.withLock { state in
            state.accounts.mapValues { account in
                account.requests.reduce(0) { $0 + ($1.key > now - Self.minutes ? $1.value.errors : 0) }
            }
        }
    }
}
