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
    case linkCreated = "link_created"
    case linkRevoked = "link_revoked"
    case refunded
    case keyRevoked = "key_revoked"
    case formSaved = "form_saved"
    case formArchived = "form_archived"
    case emailSettingsSaved = "email_settings_saved"
    case passwordReset = "password_reset"
    case businessRenamed = "business_renamed"
    case testEventQueued = "test_event_queued"
    case timeZoneSaved = "time_zone_saved"
    case publishableLimitSaved = "publishable_limit_saved"
    case twoFactorOff = "two_factor_off"
    case inviteRevoked = "invite_revoked"
    case roleChanged = "role_changed"
    case memberRemoved = "member_removed"
    case joined
    case switched
    case feesSaved = "fees_saved"
    case captured
    case voided
    case riskSaved = "risk_saved"
    case markedFraud = "marked_fraud"
    case suspended
    case resumed
    case limitsSaved = "limits_saved"
    case operatorNeedsTwoFactor = "operator_needs_two_factor"

    var message: String {
        switch self {
        case .welcome: "Welcome to Kassa. Your account is ready."
        case .signedOut: "You have signed out."
        case .passwordChanged: "Your password has been changed. Other devices have been signed out."
        case .sessionExpired: "Your session has ended. Please sign in again."
        case .methodAdded: "Payment method added. Payers can now pay you with these cards."
        case .methodUpdated: "Currencies saved."
        case .methodRemoved: "Payment method removed."
        case .linkCreated: "Payment link created. Copy it or show its QR code to your customer."
        case .linkRevoked: "Payment link revoked. Nobody can pay through it any more."
        case .refunded: "Refund issued. The money goes back to the payer's card."
        case .keyRevoked: "API key revoked. Requests with it are refused from now on."
        case .formSaved: "Payment form saved. Paste the snippet into your site to start taking payments."
        case .formArchived: "Payment form archived. It no longer takes payments."
        case .emailSettingsSaved: "Email notification settings saved."
        case .passwordReset: "Your new password is set, and every session has ended. Sign in with it."
        case .businessRenamed: "Business name saved. Payers see it from now on."
        case .testEventQueued: "Test event sent. Its delivery appears below within a few seconds; reload to see it."
        case .timeZoneSaved: "Time zone saved. Your pages show times in it; exports and the API stay in UTC."
        case .publishableLimitSaved: "Limit for publishable keys saved. Links and sessions they ask for above it are refused."
        case .twoFactorOff: "Two-factor sign-in is off. Your password alone signs you in now."
        case .inviteRevoked: "Invitation withdrawn. Its link no longer works."
        case .roleChanged: "Role changed. They sign in again to use it."
        case .memberRemoved: "Removed from the team. Their sessions have ended."
        case .joined: "You have joined the team. Your other businesses are a click away under your name."
        case .switched: "Switched business. Everything you see and do now is in this one."
        case .feesSaved: "Saved. Days closed from now on follow it; settlements already made stay as they are."
        case .captured: "Payment captured. The money is yours; anything not captured was released to the payer."
        case .voided: "Authorization voided. Nothing was taken, and the payer's bank releases the hold."
        case .riskSaved: "Risk rules saved. The next checkouts are scored against them."
        case .markedFraud: "Marked as fraud. This card and this email are refused from now on (see Risk rules)."
        case .suspended: "Merchant suspended. Its payers see “unavailable” and its API keys are refused; refunds still work."
        case .resumed: "Merchant resumed. Its links, forms and API keys work again."
        case .limitsSaved: "Limits saved. They apply from the next request."
        case .operatorNeedsTwoFactor: "Turn on two-factor sign-in to open the operator console."
        }
    }

    var kind: String {
        switch self {
        case .welcome, .passwordChanged, .methodAdded, .methodUpdated, .methodRemoved, .linkCreated, .linkRevoked, .refunded, .keyRevoked, .formSaved,
            .formArchived, .emailSettingsSaved, .passwordReset, .businessRenamed, .testEventQueued, .timeZoneSaved,
            .publishableLimitSaved, .twoFactorOff, .inviteRevoked, .roleChanged, .memberRemoved,
            .joined, .switched, .feesSaved, .captured, .voided, .riskSaved, .markedFraud, .suspended, .resumed, .limitsSaved:
            "success"
        case .signedOut, .sessionExpired, .operatorNeedsTwoFactor: "info"
        }
    }
}
