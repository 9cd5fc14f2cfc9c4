/// One-shot messages shown after a redirect. Only these known keys travel in the
/// `kassa_flash` cookie, so a crafted cookie cannot put text on a page.
public enum Flash: String, Sendable, CaseIterable {
    case welcome
    case signedOut = "signed_out"
    case passwordChanged = "password_changed"
    case sessionExpired = "session_expired"
    case methodAdded = "method_added"
    case methodUpdated = "method_updated"
    case methodRemoved = "method_removed"

    var message: String {
        switch self {
        case .welcome: "Welcome to Kassa. Your account is ready."
        case .signedOut: "You have signed out."
        case .passwordChanged: "Your password has been changed. Other devices have been signed out."
        case .sessionExpired: "Your session has ended. Please sign in again."
        case .methodAdded: "Payment method added. Payers can now pay you with these cards."
        case .methodUpdated: "Currencies saved."
        case .methodRemoved: "Payment method removed."
        }
    }

    var kind: String {
        switch self {
        case .welcome, .passwordChanged, .methodAdded, .methodUpdated, .methodRemoved: "success"
        case .signedOut, .sessionExpired: "info"
        }
    }
}
