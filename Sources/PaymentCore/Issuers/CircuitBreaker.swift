import Synchronization

/// Stops calling an issuer that keeps failing, so payers get a quick "try again" instead of
/// waiting for timeouts; after a cool-down one trial call decides whether it is back.
///
/// Per process and per issuer. It only sheds load: every payment it lets through is still
/// committed as `processing` first and resolved the usual way.
public final class CircuitBreaker: Sendable {
    public struct Settings: Sendable, Equatable {
        /// Consecutive failures that open the circuit.
        public var failureThreshold: Int
        public var coolDown: Duration

        public init(failureThreshold: Int = 5, coolDown: Duration = .seconds(30)) {
            self.failureThreshold = failureThreshold
            self.coolDown = coolDown
        }
    }

    enum State: Equatable {
        case closed(failures: Int)
        /// Refusing calls until then; once it passes, one trial call goes through and the
        /// circuit stays open for another cool-down unless that call succeeds.
        case open(until: ContinuousClock.Instant)
    }

    private let settings: Settings
    private let now: @Sendable () -> ContinuousClock.Instant
    private let states = Mutex<[String: State]>([:])

    public init(settings: Settings = .init(), now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        self.settings = settings
        self.now = now
    }

    /// Whether a call to `issuer` may go ahead now. After a cool-down only the first caller may.
    public func allows(_ issuer: String) -> Bool {
        let now = self.now()
        let coolDown = settings.coolDown
        return states.withLock { states in
            switch states[issuer] ?? .closed(failures: 0) {
            case .closed: return true
            case .open(let until):
                guard now >= until else { return false }
                states[issuer] = .open(until: now.advanced(by: coolDown))
                return true
            }
        }
    }

    /// True while calls are being refused.
    public func isOpen(_ issuer: String) -> Bool {
        let now = self.now()
        return states.withLock { states in
            switch states[issuer] ?? .closed(failures: 0) {
            case .closed: false
            case .open(let until): now < until
            }
        }
    }

    /// Every issuer this breaker has seen, and whether its calls are being refused now (metrics).
    public func snapshot() -> [String: Bool] {
        let now = self.now()
        return states.withLock { states in
            states.mapValues { state in
                switch state {
                case .closed: false
                case .open(let until): now < until
                }
            }
        }
    }

    public func recordSuccess(_ issuer: String) {
        states.withLock { $0[issuer] = .closed(failures: 0) }
    }

    public func recordFailure(_ issuer: String) {
        let reopen = now().advanced(by: settings.coolDown)
        states.withLock { states in
            switch states[issuer] ?? .closed(failures: 0) {
            case .closed(let failures):
                states[issuer] = failures + 1 >= settings.failureThreshold ? .open(until: reopen) : .closed(failures: failures + 1)
            case .open:
                states[issuer] = .open(until: reopen)
            }
        }
    }
}

/// Calls an issuer with a deadline and through the breaker.
public struct GuardedIssuer: Sendable {
    public let gateway: any IssuerGateway
    public let breaker: CircuitBreaker
    public let timeout: Duration

    public init(gateway: any IssuerGateway, breaker: CircuitBreaker, timeout: Duration) {
        self.gateway = gateway
        self.breaker = breaker
        self.timeout = timeout
    }

    public func authorize(_ request: AuthorizationRequest) async throws -> AuthorizationOutcome {
        try await call(request.issuerID) { try await gateway.authorize(request) }
    }

    public func resolve(attemptID: String, issuerID: String) async throws -> AuthorizationOutcome {
        try await call(issuerID) { try await gateway.resolve(attemptID: attemptID, issuerID: issuerID) }
    }

    private func call(_ issuer: String, _ operation: @escaping @Sendable () async throws -> AuthorizationOutcome) async throws -> AuthorizationOutcome
    {
        do {
            let outcome = try await Deadline.run(timeout, operation)
            breaker.recordSuccess(issuer)
            return outcome
        } catch is Deadline.Exceeded {
            breaker.recordFailure(issuer)
            throw IssuerError.timedOut
        } catch let cancelled as CancellationError {
            // We stopped listening; the issuer did nothing wrong.
            throw cancelled
        } catch {
            breaker.recordFailure(issuer)
            throw error
        }
    }
}
