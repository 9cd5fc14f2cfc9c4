import PaymentCore
import Testing

@Suite("Issuers: routing, the simulator's test cards, the circuit breaker")
struct IssuerTests {
    static let catalog = IssuerCatalog(issuers: [
        Issuer(id: "iss_test_visa", name: "Kassa Test Visa", network: .visa, binRanges: [], currencies: [.usd, .eur]),
        Issuer(id: "iss_liberty_national", name: "Liberty National Bank", network: .visa, binRanges: [453200...453299], currencies: [.usd]),
        Issuer(id: "iss_test_mastercard", name: "Kassa Test Mastercard", network: .mastercard, binRanges: [], currencies: [.usd]),
    ])

    static func card(_ number: String, network: CardNetwork = .visa) -> CardDetails {
        CardDetails(number: number, network: network, expMonth: 12, expYear: 2030, cvc: "123", holderName: "Ada")
    }

    @Test func aClaimedBINGoesToItsIssuerOthersToTheNetworksTestIssuer() {
        #expect(Self.catalog.route(Self.card("4532015112830366"))?.id == "iss_liberty_national")
        #expect(Self.catalog.route(Self.card("4242424242424242"))?.id == "iss_test_visa")
        #expect(Self.catalog.route(Self.card("5555555555554444", network: .mastercard))?.id == "iss_test_mastercard")
        #expect(Self.catalog.route(Self.card("378282246310005", network: .amex)) == nil)
    }

    @Test(
        arguments: [
            ("4242424242424242", nil), ("5555555555554444", nil), ("378282246310005", nil), ("4532015112830366", nil),
            ("4000000000000002", DeclineCode.cardDeclined), ("4000000000009995", .insufficientFunds), ("4000000000000069", .expiredCard),
            ("4000000000000127", .incorrectCVC), ("4000000000000119", .processingError),
        ] as [(String, DeclineCode?)])
    func everyTestCardGetsItsOutcome(number: String, decline: DeclineCode?) {
        let outcome = IssuerSimulator.decide(Self.card(number))
        switch (outcome, decline) {
        case (.approved(let code), nil): #expect(code.count == 6)
        case (.declined(let got), .some(let expected)): #expect(got == expected)
        default: Issue.record("\(number): got \(outcome)")
        }
    }

    @Test func onlyProcessingErrorsAreRetryable() {
        #expect(DeclineCode.allCases.filter(\.isRetryable) == [.processingError, .issuerUnavailable])
        #expect(DeclineCode.allCases.allSatisfy { !$0.message.isEmpty })
    }

    final class FakeClock: @unchecked Sendable {
        var now = ContinuousClock.now
    }

    @Test func breakerOpensAfterConsecutiveFailuresAndLetsOneTrialThroughAfterCoolDown() {
        let clock = FakeClock()
        let breaker = CircuitBreaker(settings: .init(failureThreshold: 3, coolDown: .seconds(30))) { clock.now }
        breaker.recordFailure("iss_a")
        breaker.recordFailure("iss_a")
        breaker.recordSuccess("iss_a")  // a success resets the count
        breaker.recordFailure("iss_a")
        breaker.recordFailure("iss_a")
        #expect(breaker.allows("iss_a"))
        breaker.recordFailure("iss_a")
        #expect(!breaker.allows("iss_a"))
        #expect(breaker.isOpen("iss_a"))
        #expect(breaker.allows("iss_b"), "other issuers are not affected")

        clock.now = clock.now.advanced(by: .seconds(31))
        #expect(breaker.allows("iss_a"), "one trial after the cool-down")
        #expect(!breaker.allows("iss_a"), "only one")
        breaker.recordSuccess("iss_a")
        #expect(breaker.allows("iss_a"))
        #expect(!breaker.isOpen("iss_a"))
    }

    @Test func failedTrialReopensTheCircuit() {
        let clock = FakeClock()
        let breaker = CircuitBreaker(settings: .init(failureThreshold: 1, coolDown: .seconds(10))) { clock.now }
        breaker.recordFailure("iss_a")
        clock.now = clock.now.advanced(by: .seconds(11))
        #expect(breaker.allows("iss_a"))
        breaker.recordFailure("iss_a")
        #expect(!breaker.allows("iss_a"))
    }
}
