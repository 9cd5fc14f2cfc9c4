import PaymentCore
import Synchronization
import Testing

@Suite("Batcher: group commit without a database")
struct BatcherTests {
    struct Bad: Error {}
    struct Lost: Error {}

    /// Items queued while a batch runs leave together in the next one, in order.
    @Test func whatQueuesWhileABatchRunsLeavesInTheNextOne() async throws {
        let seen = Mutex<[[Int]]>([])
        let batcher = Batcher<Int, Int>(name: "test", settings: .init(inFlight: 1), isItemError: { _ in false }) { items in
            seen.withLock { $0.append(items) }
            try await Task.sleep(for: .milliseconds(50))
            return items.map { $0 * 10 }
        }
        async let first = batcher.submit(1)
        try await Task.sleep(for: .milliseconds(10))
        let rest = await batcher.submitAll([2, 3, 4])
        #expect(try await first == 10)
        #expect(try rest.map { try $0.get() } == [20, 30, 40])
        #expect(seen.withLock { $0 } == [[1], [2, 3, 4]])
    }

    /// An error one item can cause runs every item alone, in order: only that item fails.
    @Test func anItemErrorFailsOnlyTheItemThatCausedIt() async throws {
        let batcher = Batcher<Int, Int>(name: "test", isItemError: { $0 is Bad }) { items in
            if items.contains(13) { throw Bad() }
            return items
        }
        let results = await batcher.submitAll([12, 13, 14])
        #expect(try results[0].get() == 12)
        #expect(throws: Bad.self) { try results[1].get() }
        #expect(try results[2].get() == 14)
    }

    /// Any other error (a lost connection, a failed COMMIT) fails the whole batch: none is known written.
    @Test func anyOtherErrorFailsTheWholeBatch() async throws {
        let batcher = Batcher<Int, Int>(name: "test", isItemError: { $0 is Bad }) { _ in throw Lost() }
        let results = await batcher.submitAll([1, 2, 3])
        for result in results { #expect(throws: Lost.self) { try result.get() } }
    }

    /// A batch that never answers (a query PostgresNIO left waiting on a dead connection) fails its
    /// items at the deadline and frees its slot for the next batch.
    @Test func aBatchThatNeverAnswersFreesItsSlotAtTheDeadline() async throws {
        let calls = Mutex(0)
        let batcher = Batcher<Int, Int>(
            name: "test", settings: .init(inFlight: 1, deadline: .milliseconds(200)), isItemError: { _ in false }
        ) { items in
            let call = calls.withLock { count in
                count += 1
                return count
            }
            if call == 1 { try await Task.sleep(for: .seconds(3600)) }
            return items
        }
        await #expect(throws: Deadline.Exceeded.self) { try await batcher.submit(1) }
        #expect(try await batcher.submit(2) == 2)
    }
}
