/// Where a payment is in its life (DESIGN.md, Payments). The database holds the same rule
/// in a trigger, so a transition is refused even by SQL written by hand.
public enum PaymentStatus: String, Sendable, CaseIterable, Codable {
    case requiresPayment = "requires_payment"
    case processing
    /// The issuer approved and holds the money; the merchant captures it (or voids it) later.
    case authorized
    case succeeded
    case failed
    case canceled
    case expired
    case partiallyRefunded = "partially_refunded"
    case refunded

    /// The states this one may move to.
    public var next: Set<PaymentStatus> {
        switch self {
        case .requiresPayment: [.processing, .canceled, .expired]
        case .processing: [.authorized, .succeeded, .failed]
        case .authorized: [.succeeded, .canceled]
        case .succeeded: [.partiallyRefunded, .refunded]
        case .partiallyRefunded: [.partiallyRefunded, .refunded]
        case .failed, .canceled, .expired, .refunded: []
        }
    }

    public func canMove(to status: PaymentStatus) -> Bool { next.contains(status) }

    /// No further change will happen.
    public var isFinal: Bool { next.isEmpty }

    /// Money reached the merchant (possibly refunded since).
    public var isCaptured: Bool {
        switch self {
        case .succeeded, .partiallyRefunded, .refunded: true
        case .requiresPayment, .processing, .authorized, .failed, .canceled, .expired: false
        }
    }

    /// How a merchant or payer reads it.
    public var label: String {
        switch self {
        case .requiresPayment: "Awaiting payment"
        case .processing: "Processing"
        case .authorized: "Authorized"
        case .succeeded: "Succeeded"
        case .failed: "Failed"
        case .canceled: "Canceled"
        case .expired: "Expired"
        case .partiallyRefunded: "Partially refunded"
        case .refunded: "Refunded"
        }
    }
}

/// Why an issuer turned a card down (or could not answer).
public enum DeclineCode: String, Sendable, CaseIterable, Codable {
    case cardDeclined = "card_declined"
    case insufficientFunds = "insufficient_funds"
    case expiredCard = "expired_card"
    case incorrectCVC = "incorrect_cvc"
    case processingError = "processing_error"
    case issuerUnavailable = "issuer_unavailable"
    /// Refused by the merchant's risk rules before the issuer was asked.
    case fraudSuspected = "fraud_suspected"

    /// What the payer is told.
    public var message: String {
        switch self {
        case .cardDeclined: "The card was declined. Use another card or contact your bank."
        case .insufficientFunds: "The card has insufficient funds. Use another card."
        case .expiredCard: "The card has expired. Use another card."
        case .incorrectCVC: "The security code is incorrect. Check it and try again."
        case .processingError: "The card issuer could not process the payment. Try again in a moment."
        case .issuerUnavailable: "The card issuer did not respond. No money was taken; try again in a moment."
        case .fraudSuspected: "This payment was refused to protect the cardholder. No money was taken. Use another card, or contact the business."
        }
    }

    /// What the merchant is told: who refused, and the code their integration sees.
    public var merchantMessage: String {
        switch self {
        case .cardDeclined, .insufficientFunds, .expiredCard, .incorrectCVC: "Declined by the issuer: \(rawValue)"
        case .processingError, .issuerUnavailable: "The issuer could not process it: \(rawValue)"
        case .fraudSuspected: "Blocked by your risk rules: \(rawValue)"
        }
    }

    /// Trying the same card again may work.
    public var isRetryable: Bool {
        switch self {
        case .processingError, .issuerUnavailable: true
        case .cardDeclined, .insufficientFunds, .expiredCard, .incorrectCVC, .fraudSuspected: false
        }
    }
}

/// Everything the core refuses, typed; App maps these to pages and JSON errors.
public enum PaymentError: Error, Sendable, Equatable {
    case invalidTransition(from: PaymentStatus, to: PaymentStatus)
    case notFound
    case linkNotFound
    case linkNotActive(LinkStatus)
    case linkInProgress
    case cardNotAccepted(network: CardNetwork, issuer: String)
    case amountOutOfRange
    /// What is left to refund on the payment.
    case refundExceedsCaptured(available: Money)
    case notRefundable(PaymentStatus)
    case issuerUnavailable(issuer: String)
    case attemptInProgress
    case issuerNotFound(String)
    case unsupportedCurrencies([String])
    case methodExists
    case methodInUse(links: Int)
    /// A capture above what the issuer authorized.
    case captureExceedsAuthorized(available: Money)
}

/// The words a merchant reads when a refund is refused: the same next to the payment page's amount
/// field and in the API's `message` (which adds its `code` and `param`).
public enum RefundRefusal {
    public static func exceeds(_ available: Money) -> String { "You can refund at most \(available.formatted)." }
    public static func notRefundable(_ status: PaymentStatus) -> String { "A payment that is \(status.label.lowercased()) cannot be refunded." }
}
