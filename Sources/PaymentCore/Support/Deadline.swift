import NIOCore
import NIOPosix
import Synchronization

/// Runs work that must not wait forever: the one timeout helper of Kassa (issuer calls, background
/// passes, `/ready`).
///
/// PostgresNIO (this version) can leave a query waiting forever when it is written to a connection
/// that PostgreSQL is closing at that moment (a crash or restart): the write is dropped without
/// failing the query. Cancellation cannot reach such a wait, so `run` stops waiting instead: the
/// caller gets `Exceeded` after `limit` and carries on; the work is cancelled and left behind.
///
/// A caller cancelled while it waits (a worker at a graceful shutdown) stops waiting at once with
/// `CancellationError`, and the work is cancelled and left behind as at the deadline: a consumer
/// stuck on such a query after a PostgreSQL restart held a server's shutdown for its whole 60 s.
///
/// The work runs in one task and the clock is a timer on one of NIO's event loops: an issuer call
/// is made on every checkout, and a task group with a sleeping child (a Dispatch timer) per call
/// was a visible part of the checkout's CPU.
public enum Deadline {
    public struct Exceeded: Error, CustomStringConvertible {
        public let limit: Duration
        public var description: String { "gave up waiting after \(limit)" }
    }

    public static func run<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let state = State<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                state.waiting.withLock { $0 = continuation }
                // Cancelled before the handler below could find the caller waiting.
                if Task.isCancelled {
                    _ = state.finish(.failure(CancellationError()))
                    return
                }
                let work = Task {
                    let result: Result<T, any Error>
                    do { result = .success(try await operation()) } catch { result = .failure(error) }
                    if state.finish(result) { state.timer.withLock { $0?.cancel() } }
                }
                state.work.withLock { $0 = work }
                let nanoseconds = limit.components.seconds * 1_000_000_000 + limit.components.attoseconds / 1_000_000_000
                let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .nanoseconds(nanoseconds)) {
                    if state.finish(.failure(Exceeded(limit: limit))) { work.cancel() }
                }
                state.timer.withLock { $0 = timer }
            }
        } onCancel: {
            if state.finish(.failure(CancellationError())) {
                state.timer.withLock { $0?.cancel() }
                state.work.withLock { $0?.cancel() }
            }
        }
    }

    /// Whoever finishes first (the work, the clock or the caller's cancellation) resumes the caller, once.
    private final class State<T: Sendable>: Sendable {
        let waiting = Mutex<CheckedContinuation<T, any Error>?>(nil)
        let timer = Mutex<Scheduled<Void>?>(nil)
        let work = Mutex<Task<Void, Never>?>(nil)

        func finish(_ result: Result<T, any Error>) -> Bool {
            guard
                let continuation = waiting.withLock({ state in
                    defer { state = nil }
                    return state
                })
            else { return false }
            continuation.resume(with: result)
            return true
        }
    }
}
