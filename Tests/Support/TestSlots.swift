import Foundation

/// How many tests may use the services at once.
///
/// Swift Testing starts every test of a run together; on two cores some 300 of them at once made
/// single requests take over 20 s (the live test client's limit) and an issuer call over 5 s (the
/// server's), and tests failed on timeouts that measured nothing but the crowd. `CoreHarness.run`
/// and `TestApp.run` take a slot for their whole body; a test inside a slot (two apps at once, a
/// harness inside an app) runs on its slot. `KASSA_TEST_SLOTS` sets the number (16).
public actor TestSlots {
    public static let shared = TestSlots(limit: Int(ProcessInfo.processInfo.environment["KASSA_TEST_SLOTS"] ?? "") ?? 16)
    @TaskLocal static var holding = false

    private let limit: Int
    private var used = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { self.limit = max(1, limit) }

    /// Runs `body` in a slot, waiting for one to be free.
    public static func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        if holding { return try await body() }
        await shared.acquire()
        do {
            let value = try await $holding.withValue(true) { try await body() }
            await shared.release()
            return value
        } catch {
            await shared.release()
            throw error
        }
    }

    private func acquire() async {
        if used < limit {
            used += 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    /// Hands the slot to the first waiter, or frees it.
    private func release() {
        if waiting.isEmpty { used -= 1 } else { waiting.removeFirst().resume() }
    }
}
