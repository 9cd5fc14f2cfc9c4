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
}
