import Synchronization

/// Group commit: callers submit one item each and wait; whatever is queued when a batch slot is free
/// goes to the database as one batch, so its statement, its round trips and its durable commit are
/// paid once for all of them. There is no timer: under light load a batch is one item and leaves at
/// once; under load the queue fills while the previous batch waits for its fsync, and the next batch
/// takes all of it (TigerBeetle's lesson, here inside PostgreSQL).
///
/// `run` must return one outcome per item, in order, and only after its transaction's COMMIT
/// returned: nobody is answered before their row is durable. When `run` throws, `isItemError`
/// decides what the error means. An error one item can cause (a constraint it breaks) is answered by
/// running each item on its own, so a bad item fails alone; any other error (a lost connection, a
/// failed COMMIT) fails every item of the batch with it, since none of them is known to be written.
public final class Batcher<Item: Sendable, Outcome: Sendable>: Sendable {
    public typealias Run = @Sendable ([Item]) async throws -> [Outcome]

    private struct Waiting {
        let item: Item
        let continuation: CheckedContinuation<Outcome, any Error>
        /// The submitter's span, when it is traced: the batch it joined is recorded under it.
        var trace: Trace.Scope? = nil
    }

    private struct State {
        var queue: [Waiting] = []
        var running = 0
        /// While above zero, nothing leaves the queue (`submitAll` is queueing its items).
        var paused = 0
    }

    public let name: String
    private let settings: BatchSettings
    private let run: Run
    private let isItemError: @Sendable (any Error) -> Bool
    private let state = Mutex(State())
    private let sizes: (@Sendable (Int) -> Void)?

    /// `sizes` hears the size of every batch (for metrics).
    public init(
        name: String, settings: BatchSettings = .init(), isItemError: @escaping @Sendable (any Error) -> Bool,
        sizes: (@Sendable (Int) -> Void)? = nil, run: @escaping Run
    ) {
        self.name = name
        self.settings = settings
        self.run = run
        self.isItemError = isItemError
        self.sizes = sizes
    }

    /// How many items wait for a batch now (none of them has left yet).
    var queued: Int { state.withLock { $0.queue.count } }

    /// Queues `item` and waits for its outcome.
    public func submit(_ item: Item) async throws -> Outcome {
        try await enqueue(item) {}
    }

    /// Queues `items` in this order, together (nothing can leave between them), and waits for each
    /// one's outcome: what a batch of exactly these items in this order gives when a slot is free.
    public func submitAll(_ items: [Item]) async -> [Result<Outcome, any Error>] {
        state.withLock { $0.paused += 1 }
        return await withTaskGroup(of: (Int, Result<Outcome, any Error>).self) { group in
            for (index, item) in items.enumerated() {
                let queued = AsyncStream<Void>.makeStream()
                group.addTask {
                    do {
                        return (index, .success(try await self.enqueue(item) { queued.continuation.finish() }))
                    } catch {
                        return (index, .failure(error))
                    }
                }
                for await _ in queued.stream {}  // this item is queued before the next one is submitted
            }
            let batch: [Waiting]? = state.withLock { state in
                state.paused -= 1
                return Self.take(&state, settings)
            }
            if let batch { start(batch) }
            var results = [Result<Outcome, any Error>?](repeating: nil, count: items.count)
            for await (index, result) in group { results[index] = result }
            return results.map { $0! }
        }
    }

    private func enqueue(_ item: Item, queued: @escaping @Sendable () -> Void) async throws -> Outcome {
        try await withCheckedThrowingContinuation { continuation in
            let batch: [Waiting]? = state.withLock { state in
                state.queue.append(Waiting(item: item, continuation: continuation, trace: Trace.current))
                queued()
                return Self.take(&state, settings)
            }
            if let batch { start(batch) }
        }
    }

    /// The next batch, when a slot is free and something waits; marks the slot taken.
    private static func take(_ state: inout State, _ settings: BatchSettings) -> [Waiting]? {
        guard state.paused == 0, state.running < settings.inFlight, !state.queue.isEmpty else { return nil }
        state.running += 1
        let count = min(state.queue.count, settings.maximumBatch)
        let batch = Array(state.queue.prefix(count))
        state.queue.removeFirst(count)
        return batch
    }

    private func start(_ batch: [Waiting]) {
        Task { await self.execute(batch) }
    }

    private func execute(_ batch: [Waiting]) async {
        sizes?(batch.count)
        let started = Trace.now()
        await answer(batch)
        let ended = Trace.now()
        for waiting in batch {
            guard let scope = waiting.trace, let sink = scope.sink, scope.context.sampled else { continue }
            sink.export(
                FinishedSpan(
                    context: scope.context.child(), parentSpanID: scope.context.spanID, name: "batch.\(name)", kind: .internal,
                    start: started, end: ended, attributes: [("kassa.batch.size", String(batch.count))], error: nil))
        }
        // The slot is free: whatever queued meanwhile leaves now.
        let next: [Waiting]? = state.withLock { state in
            state.running -= 1
            return Self.take(&state, settings)
        }
        if let next { start(next) }
    }

    private func answer(_ batch: [Waiting]) async {
        do {
            let items = batch.map(\.item)
            let run = self.run
            let outcomes = try await Deadline.run(settings.deadline) { try await run(items) }
            guard outcomes.count == batch.count else {
                for waiting in batch { waiting.continuation.resume(throwing: BatchError.outcomeCountMismatch(name: name)) }
                return
            }
            for (waiting, outcome) in zip(batch, outcomes) { waiting.continuation.resume(returning: outcome) }
        } catch  where batch.count > 1 && isItemError(error) {
            // One item may have broken the batch: each alone now, in arrival order, so it fails alone
            // and the others get what they would have got without it.
            for waiting in batch { await answer([waiting]) }
        } catch {
            for waiting in batch { waiting.continuation.resume(throwing: error) }
        }
    }
}

/// How a `Batcher` groups its items.
public struct BatchSettings: Sendable, Equatable {
    /// Batches in flight at once. One per transition gives the largest batches, and with three
    /// transitions and the consumers there is always other work for both cores while one batch waits
    /// for its fsync: in make bench's checkout at 32 connections one in flight made 950–1,000
    /// checkouts/s at 0.84 ms of PostgreSQL CPU each, two 890–940/s at 1.0–1.1 ms.
    public var inFlight: Int
    /// At most this many items per batch.
    public var maximumBatch: Int
    /// A batch not answered by then fails all its items and frees its slot. PostgresNIO can leave a
    /// query waiting for ever on a connection PostgreSQL closed under it (a crash); without this, one
    /// such batch held its transition's slot and every later checkout queued behind it (make drills).
    public var deadline: Duration

    public init(inFlight: Int = 1, maximumBatch: Int = 256, deadline: Duration = .seconds(15)) {
        self.inFlight = inFlight
        self.maximumBatch = maximumBatch
        self.deadline = deadline
    }
}

public enum BatchError: Error, Sendable, Equatable {
    /// A batch function returned a different number of outcomes than it was given items (a bug).
    case outcomeCountMismatch(name: String)
}
