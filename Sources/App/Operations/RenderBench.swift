import Foundation
import PaymentCore

#if canImport(Glibc)
import Glibc
#endif

/// `kassa render-bench`: the history page's rendering alone, in one thread, on fixed data (25 rows,
/// the layout, a signed-in header), timed in the thread's own CPU time. The pages' rates under load
/// move with the machine's neighbours by a fifth from run to run; this is how a change to the
/// renderer is held against the one before it (BENCHMARKS.md).
public func renderBench(templates: String, iterations: Int) async throws -> (microseconds: Double, bytes: Int) {
    guard iterations >= 1 else { throw RenderBenchRefused(description: "--iterations must be at least 1 (got \(iterations))") }
    let renderer = try await Renderer(directory: templates)
    let rows = (0..<PaymentHistory.pageSize).map { i in
        PaymentsController.PaymentRow(
            id: "pay_BENCHBENCHBENCHBENCH\(1000 + i)", date: "2 Dec 2026, 14:\(10 + i)", description: "Order #\(4000 + i): beans & filters",
            amount: "€24.50", status: i % 7 == 0 ? "Failed" : "Succeeded", statusClass: i % 7 == 0 ? "bad" : "ok",
            card: "Visa •••• 4242", email: "payer\(i)@example.com", refunded: i % 5 == 0 ? "€5.00" : nil)
    }
    let view = PaymentsController.ListView(
        payments: KeptRows(rows, cache: nil), hasPayments: true,
        totals: [PaymentsController.TotalRow(currency: "EUR", net: "€12,345.67", countLabel: "480 succeeded · 20 failed", refunded: "€120.00")],
        hasTotals: true, totalsAsOf: nil,
        statuses: [PaymentsController.StatusOption(value: "", label: "Any status", selected: true)]
            + PaymentStatus.allCases.map { PaymentsController.StatusOption(value: $0.rawValue, label: $0.label, selected: false) },
        realms: [], hasRealms: false, form: ["status": "", "from": "", "to": "", "q": "", "realm": ""], errors: [:], filtered: false,
        nextURL: "/payments?after=pay_BENCHBENCHBENCHBENCH1024", firstURL: nil, csvURL: "/payments.csv")
    let context = BenchPageContext()
    var bytes = 0
    for _ in 0..<min(iterations, 100) { bytes = renderer.html("payments/index", title: "Payments", view, context: context).utf8.count }
    let start = threadCPUTime()
    for _ in 0..<iterations {
        let response = renderer.page("payments/index", title: "Payments", view, context: context)
        bytes = response.body.contentLength ?? 0
    }
    return ((threadCPUTime() - start) * 1e6 / Double(iterations), bytes)
}

/// A render-bench asked for nothing to time.
public struct RenderBenchRefused: Error, CustomStringConvertible {
    public let description: String
}

private func threadCPUTime() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

private struct BenchPageContext: PageContext {
    var signedIn: Session? = Session(
        userID: "usr_BENCH", accountID: AccountID("acct_BENCHBENCHBENCHBENCHBENCH"), userName: "Ada Lovelace", email: "ada@example.com",
        accountName: "Analytical Engines", createdAt: 0)
    var csrfToken = "csrf-token-for-the-bench-0123456789abcdef"
    var flash: Flash? = nil
    var unreadNotifications: Int? = 3
    var suspension: String? = nil
    var path = "/payments"
}
