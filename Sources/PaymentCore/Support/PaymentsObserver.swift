/// What the payment core tells the server's metrics: batch sizes by transition, each checkout's
/// outcome and duration, and each status a payment reaches in this process. Label values are
/// bounded (transitions, outcomes and statuses, never an account or a payment).
public struct PaymentsObserver: Sendable {
    public var batch: @Sendable (_ transition: String, _ size: Int) -> Void
    public var checkout: @Sendable (_ outcome: String, _ duration: Duration) -> Void
    public var status: @Sendable (_ status: PaymentStatus) -> Void

    public init(
        batch: @escaping @Sendable (String, Int) -> Void = { _, _ in },
        checkout: @escaping @Sendable (String, Duration) -> Void = { _, _ in },
        status: @escaping @Sendable (PaymentStatus) -> Void = { _ in }
    ) {
        self.batch = batch
        self.checkout = checkout
        self.status = status
    }

    public static let none = PaymentsObserver()
}

extension CheckoutOutcome {
    /// The metric label of an outcome: the payment's status when this submit made one, else what
    /// stopped it.
    public var label: String {
        switch self {
        case .paid(let receipt): receipt.status.rawValue
        case .replayed: "replayed"
        case .linkClosed, .formClosed, .notFound: "closed"
        case .cardNotAccepted: "card_not_accepted"
        case .issuerUnavailable: "issuer_unavailable"
        case .amountOutOfRange: "amount_out_of_range"
        case .attemptInProgress: "attempt_in_progress"
        }
    }
}
