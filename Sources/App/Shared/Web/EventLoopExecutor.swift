import Hummingbird
import NIOCore
import Synchronization

/// Runs a task's jobs on one NIO event loop: a request's code, its database and Redis answers
/// resume on its connection's loop. Swift's global executor already runs on NIO's loops
/// (`KASSA_NIO_EXECUTOR`), but it spreads a task's jobs over all of them: each step of a request
/// could wake the other core and hand the response back across.
final class EventLoopTaskExecutor: TaskExecutor, Sendable {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    private static let known = Mutex<[ObjectIdentifier: EventLoopTaskExecutor]>([:])

    /// One executor per loop of the server's group, made once (a test's loops, one per request,
    /// get one each past the first 64, kept by nobody).
    static func `for`(_ eventLoop: any EventLoop) -> EventLoopTaskExecutor {
        known.withLock { known in
            let key = ObjectIdentifier(eventLoop)
            if let found = known[key] { return found }
            let made = EventLoopTaskExecutor(eventLoop)
            if known.count < 64 { known[key] = made }
            return made
        }
    }
}

/// Reads (GET and HEAD: the pages and the API's lists) run on their connection's event loop. A
/// history page waits on Redis once and PostgreSQL three times; resuming each time on whichever
/// loop the global executor picked, and then handing the response back to the connection's, was a
/// thread wake-up per step on two cores. Measured (release, 10,000 payments, 16 connections, A/B in
/// one hour): 710–937 views/s and 1.25–1.57 ms of Kassa's CPU each on the loop, 542–664/s and
/// 1.59–1.82 ms without (BENCHMARKS.md). Writes keep Swift's executor: the checkout's batches run in tasks of their own that
/// would inherit the loop of whichever request started them, and A/B runs of the checkout were
/// no faster on the loop (542–814/s against 621–697/s).
///
/// Nothing on these paths blocks a thread: password hashing and hiredis run on thread pools,
/// and nothing waits on a future.
struct EventLoopExecutorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .get || request.method == .head else { return try await next(request, context) }
        return try await withTaskExecutorPreference(EventLoopTaskExecutor.for(context.eventLoop)) { try await next(request, context) }
    }
}
