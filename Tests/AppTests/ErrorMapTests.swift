import Foundation
import PaymentCore
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
}
