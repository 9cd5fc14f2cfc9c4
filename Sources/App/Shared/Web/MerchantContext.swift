import Foundation
import Hummingbird

/// What a page's layout reads from its request: who is signed in, the form token, the one-shot
/// message and the notification badge.
protocol PageContext {
    var signedIn: Session? { get }
    var csrfToken: String { get }
    var flash: Flash? { get }
    var unreadNotifications: Int? { get }
    var suspension: String? { get }
    /// The request's path: the header marks where the merchant is (`aria-current`).
    var path: String { get }
}

extension AppRequestContext: PageContext {
    var signedIn: Session? { session }
}

/// The context of every merchant page: a signed-in session, never optional. The routes that need
/// one are in a group of this context, so a handler cannot forget to ask for it; a request without
/// one is sent to log in and brought back afterwards (to the page itself for a GET, to the area's
/// first page after a form's POST).
struct MerchantContext: ChildRequestContext, PageContext {
    var coreContext: CoreRequestContextStorage
    let session: Session
    /// Everything the middleware found (form, CSRF token, flash, badge); a page that reads the
    /// badge itself sets it here (`NotificationBadgeMiddleware.countedByPage`).
    var request: AppRequestContext

    init(context: AppRequestContext) throws {
        guard let session = context.session else {
            throw HTTPError(.seeOther, headers: [.location: Self.loginPath(returningFrom: context.path, method: context.method)])
        }
        self.coreContext = context.coreContext
        self.session = session
        self.request = context
    }

    var signedIn: Session? { session }
    var csrfToken: String { request.csrfToken }
    var flash: Flash? { request.flash }
    var unreadNotifications: Int? { request.unreadNotifications }
    var suspension: String? { request.suspension }
    var path: String { request.path }
    var form: FormData { request.form }
    var maxUploadSize: Int { request.maxUploadSize }

    /// `/login?next=` this page for a GET; after a POST (a form sent once the session had ended),
    /// the area's first page: `/links` for `/links/…`, `/developers/keys` for `/developers/keys/…`.
    static func loginPath(returningFrom path: String, method: HTTPRequest.Method) -> String {
        var next = path
        if method != .get && method != .head {
            let segments = path.split(separator: "/").prefix(path.hasPrefix("/developers/") ? 2 : 1)
            next = "/" + segments.joined(separator: "/")
        }
        if next == "/" || !next.hasPrefix("/") || next.hasPrefix("//") { next = "/dashboard" }
        let encoded = next.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "/-_."))) ?? "/dashboard"
        return "/login?next=\(encoded)"
    }
}
