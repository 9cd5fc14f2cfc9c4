import PaymentCore
import Testing

@Suite("Deadline: work that must not wait forever")
struct DeadlineTests {
    /// Holds continuations nobody resumes, as PostgresNIO holds a query whose write it dropped.
    actor Limbo {
        var held: [CheckedContinuation<Int, Never>] = []
        func hold(_ continuation: CheckedContinuation<Int, Never>) { held.append(continuation) }
    }

    @Test func aResultInTimeIsReturned() async throws {
        #expect(try await Deadline.run(.seconds(5)) { 42 } == 42)
    }

    @Test func anErrorInTimeIsThrownAsIs() async throws {
        struct Refused: Error {}
        await #expect(throws: Refused.self) { try await Deadline.run(.seconds(5)) { () async throws -> Int in throw Refused() } }
    }

    @Test func workThatNeverAnswersIsGivenUpOn() async throws {
        let limbo = Limbo()
        // Cancellation cannot reach this wait, like a query whose write was dropped.
        await #expect(throws: Deadline.Exceeded.self) {
            try await Deadline.run(.milliseconds(100)) { await withCheckedContinuation { continuation in Task { await limbo.hold(continuation) } } }
        }
        // Let the held work finish so the test leaves nothing behind.
        for continuation in await limbo.held { continuation.resume(returning: 0) }
    }

    /// A caller cancelled while it waits (a worker told to shut down) stops waiting at once, long
    /// before the deadline, and the work left behind is cancelled.
    @Test func aCancelledCallerStopsWaiting() async throws {
        let limbo = Limbo()
        let caller = Task {
            try await Deadline.run(.seconds(300)) { await withCheckedContinuation { continuation in Task { await limbo.hold(continuation) } } }
        }
        while await limbo.held.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        caller.cancel()
        await #expect(throws: CancellationError.self) { try await caller.value }
        // Already cancelled when it starts: the work is not even begun.
        let late = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await Deadline.run(.seconds(300)) { () async throws -> Int in
                Issue.record("the work ran")
                return 1
            }
        }
        await #expect(throws: CancellationError.self) { try await late.value }
        for continuation in await limbo.held { continuation.resume(returning: 0) }
    }
}
