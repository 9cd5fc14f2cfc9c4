import Foundation
import PaymentCore
import Prometheus

/// The series Kassa exports at `/metrics` beyond the request metrics, in one place, so that the
/// alert rules (`ops/prometheus/alerts.yml`) and the Grafana dashboard can name them. Labels are
/// bounded: transitions, outcomes, statuses, results, issuers and consumers; never an account.
struct KassaMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    /// The same events for the operator's console.
    let stats: OpsStats
    /// The RSS the operator gives one process (`KASSA_MEMORY_BUDGET_MB`), exported so an alert can
    /// compare the process's RSS with it.
    var memoryBudgetBytes: Double = 1024 * 1024 * 1024

    static let checkoutBuckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(75), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
    ]

    /// What the payment core reports: batch sizes by transition, checkout durations by outcome and
    /// the statuses payments reach in this process.
    var payments: PaymentsObserver {
        let registry = self.registry
        let stats = self.stats
        return PaymentsObserver(
            batch: { transition, size in
                registry.makeValueHistogram(
                    name: "kassa_batch_size", labels: [("transition", transition)], buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256]
                ).record(Double(size))
            },
            checkout: { outcome, duration in
                stats.checkout(outcome, duration)
                registry.makeDurationHistogram(name: "kassa_checkout_duration_seconds", labels: [("outcome", outcome)], buckets: Self.checkoutBuckets)
                    .recordNanoseconds(Int64(duration.components.seconds) * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
            },
            status: { status in
                registry.makeCounter(name: "kassa_payments_total", labels: [("status", status.rawValue)]).increment()
            }
        )
    }

    /// Series exported at zero from the start, so alerts on their increase see their first event.
    /// Where a merchant's list was read (`ReplicaReads`): `kassa_reads_total{server}`.
    var read: @Sendable (ReplicaReads.Server) -> Void {
        let counters = Dictionary(
            uniqueKeysWithValues: ReplicaReads.Server.allCases.map {
                ($0, registry.makeCounter(name: "kassa_reads_total", labels: [("server", $0.rawValue)]))
            })
        return { counters[$0]?.increment() }
    }

    func prepare() {
        for result in ["delivered", "retry", "failed"] {
            _ = registry.makeCounter(name: "kassa_webhook_deliveries_total", labels: [("result", result)])
        }
        _ = registry.makeCounter(name: "kassa_webhook_endpoints_disabled_total")
    }

    /// One webhook delivery attempt's result: `delivered`, `retry` or `failed` (given up).
    func webhookDelivery(_ result: String) {
        registry.makeCounter(name: "kassa_webhook_deliveries_total", labels: [("result", result)]).increment()
    }

    func webhookEndpointDisabled() {
        registry.makeCounter(name: "kassa_webhook_endpoints_disabled_total").increment()
    }

    /// Called before each scrape: the gauges that are read, not counted.
    func refresh(circuits: [String: Bool], ready: (postgresql: Bool, redis: Bool)) {
        for (issuer, open) in circuits {
            registry.makeGauge(name: "kassa_issuer_circuit_open", labels: [("issuer", issuer)]).set(Double(open ? 1 : 0))
        }
        registry.makeGauge(name: "kassa_dependency_up", labels: [("dependency", "postgresql")]).set(Double(ready.postgresql ? 1 : 0))
        registry.makeGauge(name: "kassa_dependency_up", labels: [("dependency", "redis")]).set(Double(ready.redis ? 1 : 0))
        registry.makeGauge(name: "kassa_ready").set(Double(ready.postgresql && ready.redis ? 1 : 0))
        let process = ProcessUsage.read()
        registry.makeGauge(name: "process_resident_memory_bytes").set(process.residentBytes)
        registry.makeGauge(name: "process_open_fds").set(process.openDescriptors)
        registry.makeGauge(name: "process_max_fds").set(process.maximumDescriptors)
        registry.makeGauge(name: "kassa_memory_budget_bytes").set(memoryBudgetBytes)
    }
}

/// This process's resident memory and file descriptors, from `/proc/self` (Linux).
struct ProcessUsage {
    var residentBytes: Double
    var openDescriptors: Double
    var maximumDescriptors: Double

    static func read() -> ProcessUsage {
        var resident = 0.0
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) {
            let fields = statm.split(separator: " ")
            if fields.count > 1, let pages = Double(fields[1]) { resident = pages * Double(sysconf(Int32(_SC_PAGESIZE))) }
        }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        var limit = rlimit()
        let maximum = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 ? Double(limit.rlim_cur) : 0
        return ProcessUsage(residentBytes: resident, openDescriptors: Double(open), maximumDescriptors: maximum)
    }
}
