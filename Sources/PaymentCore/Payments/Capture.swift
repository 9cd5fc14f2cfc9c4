import Foundation
import PostgresNIO

/// Authorize now, capture later: a manual-capture payment stops at `authorized`; the merchant
/// captures all or part of it, or voids it; authorizations nobody captured in time are voided.
extension Payments {
    /// How long an authorization may wait for its capture before it is voided.
    public static let defaultAuthorizationDays = 7

    /// Captures `amount` (all of it when nil) of an authorized payment: it becomes `succeeded` with
    /// the captured amount (the rest is released), logging `payment.captured` and then
    /// `payment.succeeded`, which moves the money in the ledger. One transaction, on the payment's
    /// row lock; a second capture finds it `succeeded` and is refused.
    public func capture(accountID: AccountID, paymentID: PaymentID, amount: Int64?) async throws -> Payment {
        try await database.transaction(logger: logger) { connection in
            guard
                let current = try await fetch(
                    connection, "SELECT \(unescaped: Payment.columns) FROM payments WHERE account_id = \(accountID) AND id = \(paymentID) FOR UPDATE")
            else { throw PaymentError.notFound }
            guard current.status == .authorized else { throw PaymentError.invalidTransition(from: current.status, to: .succeeded) }
            let authorized = current.amount.minorUnits
            let value = amount ?? authorized
            guard value > 0 else { throw PaymentError.amountOutOfRange }
            guard value <= authorized else { throw PaymentError.captureExceedsAuthorized(available: current.amount) }
            let updated = try await fetchOne(
                connection,
                """
                UPDATE payments SET status = 'succeeded', amount = \(value), amount_authorized = \(authorized)
                WHERE account_id = \(accountID) AND id = \(paymentID)
                RETURNING \(unescaped: Payment.columns)
                """
            )
            let currency = current.amount.currency.code
            try await log.append(
                connection, accountID: accountID, paymentID: paymentID, type: .paymentCaptured,
                data: EventData(
                    status: .succeeded, ["amount": .int(value), "amount_authorized": .int(authorized), "currency": .string(currency)]))
            try await log.append(
                connection, accountID: accountID, paymentID: paymentID, type: .paymentSucceeded,
                data: EventData(status: .succeeded, ["amount": .int(value), "currency": .string(currency), "captured": .string("manual")]))
            return updated
        }
    }

    /// Voids an authorized payment: `canceled`, nothing taken, and its link's or form's use given
    /// back as a decline gives it. Locks the link, then the form, then the payment, the order every
    /// batch takes them in.
    public func cancel(accountID: AccountID, paymentID: PaymentID, reason: String = "requested_by_merchant") async throws -> Payment {
        try await database.transaction(logger: logger) { connection in
            try await self.void(connection, accountID: accountID, paymentID: paymentID, reason: reason)
        }
    }

    private func void(_ connection: PostgresConnection, accountID: AccountID, paymentID: PaymentID, reason: String) async throws -> Payment {
        guard
            let seen = try await fetch(
                connection, "SELECT \(unescaped: Payment.columns) FROM payments WHERE account_id = \(accountID) AND id = \(paymentID)")
        else { throw PaymentError.notFound }
        if let link = seen.paymentLinkID {
            try await connection.query("SELECT 1 FROM payment_links WHERE account_id = \(accountID) AND id = \(link) FOR UPDATE", logger: logger)
        }
        if let form = seen.paymentFormID {
            try await connection.query("SELECT 1 FROM payment_forms WHERE account_id = \(accountID) AND id = \(form) FOR UPDATE", logger: logger)
        }
        guard
            let current = try await fetch(
                connection, "SELECT \(unescaped: Payment.columns) FROM payments WHERE account_id = \(accountID) AND id = \(paymentID) FOR UPDATE")
        else { throw PaymentError.notFound }
        guard current.status == .authorized else { throw PaymentError.invalidTransition(from: current.status, to: .canceled) }
        let updated = try await fetchOne(
            connection,
            """
            UPDATE payments SET status = 'canceled', single_use_link_id = NULL WHERE account_id = \(accountID) AND id = \(paymentID)
            RETURNING \(unescaped: Payment.columns)
            """
        )
        if let link = current.paymentLinkID {
            try await connection.query(
                "UPDATE payment_links SET uses = greatest(uses - 1, 0) WHERE account_id = \(accountID) AND id = \(link)", logger: logger)
            cache.forget(link: link)
        }
        if let form = current.paymentFormID {
            try await connection.query(
                "UPDATE payment_forms SET uses = greatest(uses - 1, 0) WHERE account_id = \(accountID) AND id = \(form)", logger: logger)
            cache.forget(form: form)
        }
        try await log.append(
            connection, accountID: accountID, paymentID: paymentID, type: .paymentCanceled,
            data: EventData(
                status: .canceled,
                ["amount": .int(current.amount.minorUnits), "currency": .string(current.amount.currency.code), "reason": .string(reason)]))
        return updated
    }

    /// Voids authorizations older than `days`, each in its own transaction. Returns how many.
    public func voidExpiredAuthorizations(days: Int = Payments.defaultAuthorizationDays, limit: Int = 100) async throws -> Int {
        let rows = try await database.query(
            """
            SELECT account_id, id FROM payments WHERE status = 'authorized' AND authorized_at < now() - make_interval(days => \(days)::integer)
            ORDER BY authorized_at LIMIT \(limit)
            """,
            logger: logger
        )
        var due: [(AccountID, PaymentID)] = []
        for try await row in rows.decode((AccountID, PaymentID).self) { due.append(row) }
        var voided = 0
        for (account, payment) in due {
            do {
                _ = try await database.transaction(logger: logger) { connection in
                    try await self.void(connection, accountID: account, paymentID: payment, reason: "authorization_expired")
                }
                voided += 1
            } catch PaymentError.invalidTransition {
                continue  // captured or voided meanwhile
            }
        }
        return voided
    }
}
