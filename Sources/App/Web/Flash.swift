/// One-shot messages shown after a redirect. Only these known keys travel in the
/// `kassa_flash` cookie, so a crafted cookie cannot put text on a page.
public enum Flash: String, Sendable, CaseIterable {
    case welcome
    case signedOut = "signed_out"
    case passwordChanged = "password_changed"
    case sessionExpired = "session_expired"

    var message: String {
        switch self {
        case .welcome: "Welcome to Kassa. Your account is ready."
        case .signedOut: "You have signed out."
        case .passwordChanged: "Your password has been changed. Other devices have been signed out."
        case .sessionExpired: "Your session has ended. Please sign in again."
        }
    }

    var kind: String {
        switch self {
        case .welcome, .passwordChanged: "success"
        case .signedOut, .sessionExpired: "info"
        }
    }
}
