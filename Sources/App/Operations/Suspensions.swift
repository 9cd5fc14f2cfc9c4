import Foundation
import Hummingbird
import Logging
import PaymentCore
import PostgresNIO
import Synchronization

/// The merchants an operator has suspended, held in memory so the checkout, the API and the pages
/// ask without a query. The process that suspends or resumes updates its copy at once; every
/// process reads the whole (small) set again every two seconds (`refresh`, a worker), so another
/// process follows within that.
final class Suspensions: Sendable {
    let database: PostgresClient
    let logger: Logger
    /// Account id → the reason its people see; nil until first read.
    private let suspended = Mutex<[String: String]?>(nil)

    init(database: PostgresClient, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// The reason `accountID` is suspended, or nil when it is not. The first call reads the set.
    func reason(_ accountID: AccountID) async throws -> String? {
        if let known = suspended.withLock({ $0 }) { return known[accountID.rawValue] }
        try await refresh()
        return suspended.withLock { $0?[accountID.rawValue] }
    }

    /// Reads the set again; returns how many merchants are suspended.
    @discardableResult func refresh() async throws -> Int {
        let rows = try await database.query(
            "SELECT id, suspended_reason FROM accounts WHERE suspended_at IS NOT NULL", logger: logger)
        var fresh: [String: String] = [:]
        for try await (id, reason) in rows.decode((String, String).self) { fresh[id] = reason }
        suspended.withLock { $0 = fresh }
        return fresh.count
    }

    /// This process's copy after an operator's change (the others follow at their next refresh).
    func note(_ accountID: AccountID, reason: String?) {
        suspended.withLock { set in
            var known = set ?? [:]
            known[accountID.rawValue] = reason
            set = known
        }
    }
}

extension Suspensions {
    /// Turns a payer away from a suspended merchant's link or form: 503, nothing charged, and
    /// not the operator's reason (that is for the merchant's people).
    func refusePayers(_ accountID: AccountID, payments: Payments) async throws {
        guard try await reason(accountID) != nil else { return }
        let merchant = try await payments.links.merchantName(accountID: accountID)
        throw PageError(
            status: .serviceUnavailable, heading: "Payments to \(merchant) are unavailable",
            message: "\(merchant) cannot take payments right now, and nothing was charged. Try again later, or contact them.")
    }
}

/// Tells a suspended merchant's people, on every page, why their payers are turned away.
struct SuspensionNoticeMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let suspensions: Suspensions

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let session = context.session, !session.isOperator else { return try await next(request, context) }
        var context = context
        context.suspension = try? await suspensions.reason(session.accountID)
        return try await next(request, context)
    }
}
