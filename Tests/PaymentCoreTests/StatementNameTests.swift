import PostgresNIO
import Testing

@testable import PaymentCore

@Suite("Prepared statements' names")
struct StatementNameTests {
    /// Each statement names itself once (PostgresNIO's default made the name from the type on every
    /// execution): the names stay what they were, the type's, and no two statements share one, since
    /// a connection keeps one prepared statement per name.
    @Test func eachStatementIsNamedAfterItsTypeAndNoneTwice() {
        let statements: [any PostgresPreparedStatement.Type] = [
            StartBatch.self, FinishBatch.self, DecisionBatch.self, PaymentByAttemptToken.self, LinkByID.self, MethodsOfAccount.self,
            NewestPayments<Payment>.self, NewestPayments<ListedPayment>.self, RecentPayments<Payment>.self, RecentPayments<ListedPayment>.self,
            NewestPaymentsAfter<Payment>.self, NewestPaymentsAfter<ListedPayment>.self, KeptTotals.self, NewestPaymentsWithTotals.self,
            DashboardOverview.self, DashboardWithRecent.self, ExpiringLinks.self, TotalsPass.self, LedgerPass.self, PaymentByID.self,
            EventsOfPayment.self, RefundsOfPayment.self, PaymentsInStatuses<Payment>.self, PaymentsInStatuses<ListedPayment>.self,
            KeptTotalsInStatuses.self,
        ]
        for statement in statements { #expect(statement.name == String(reflecting: statement)) }
        #expect(Set(statements.map { $0.name }).count == statements.count)
    }
}

@Suite("What a list reads of a payment")
struct ListedColumnsTests {
    /// `ListedPayment` names its columns after `Payment.Column`'s cases: the ten a list row shows,
    /// in its decoding order, spelled as the whole payment's.
    @Test func aListedPaymentReadsTheTenColumnsARowShows() {
        #expect(ListedPayment.columns == "id, status, amount, currency, amount_refunded, description, card_brand, card_last4, email, created_at")
        #expect(ListedPayment.columnCount == 10)
    }
}
