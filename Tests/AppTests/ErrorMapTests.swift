import Foundation
import KassaTestSupport
import PaymentCore
import PostgresNIO
import Testing

@testable import App

/// The core's refusals have one page and one JSON error each, with the same status: a page never
/// shows a refusal as "something went wrong", and the two maps cannot drift apart.
@Suite("Refusals as pages and as API errors")
struct ErrorMapTests {
    static let every: [PaymentError] = [
        .invalidTransition(from: .succeeded, to: .processing), .notFound, .linkNotFound, .linkNotActive(.revoked), .linkInProgress,
        .cardNotAccepted(network: .visa, issuer: "Liberty National Bank"), .amountOutOfRange,
        .refundExceedsCaptured(available: Money(minorUnits: 100, currency: .eur)), .notRefundable(.failed), .issuerUnavailable(issuer: "Test Visa"),
        .attemptInProgress,
        .issuerNotFound("iss_nope"), .unsupportedCurrencies(["XTS"]), .methodExists, .methodInUse(links: 2),
    ]

    @Test(arguments: every)
    func aPageAndTheAPIAnswerARefusalAlike(_ error: PaymentError) {
        let (status, heading, message) = ErrorPageMiddleware.words(for: error)
        #expect(status == APIErrorMiddleware.map(error).status)
        #expect(status.code != 500)
        #expect(!heading.isEmpty && !message.isEmpty)
    }

    /// PostgreSQL away (here a refused connection) is a 503 to try again; a query PostgreSQL
    /// refuses is not. (A session the server ends is not tried here: PostgresNIO can leave the
    /// next query on it waiting for ever, the hang `Deadline` exists for.)
    @Test func aDatabaseThatIsAwayIsToldApartFromAQueryRefused() async throws {
        var closed = TestServices.admin
        closed.port = 1
        do {
            _ = try await TestServices.connection(to: "postgres", on: closed)
            Issue.record("connected to port 1")
        } catch let error as PSQLError {
            #expect(DatabaseFailure.isUnavailable(error), "\(String(reflecting: error))")
        }
        try await TestServices.withConnection(to: TestServices.admin.database) { connection in
            do {
                _ = try await connection.query("SELEC 1", logger: TestServices.logger)
                Issue.record("a syntax error was accepted")
            } catch let error as PSQLError {
                #expect(!DatabaseFailure.isUnavailable(error), "\(String(reflecting: error))")
            }
        }
    }
}
