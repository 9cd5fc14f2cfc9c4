import Hummingbird
import Logging
import NIOCore

/// What a request carries through the middleware chain to its handler.
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client's address (or "unknown" when the channel has none, as in router tests); behind a
    /// trusted proxy, the one it forwarded (`ClientAddressMiddleware`).
    public var remoteAddress: String
    /// `X-Request-Id` as received (when sane) or made here.
    public var requestID: String = ""
    /// The signed-in merchant, when there is one.
    public var session: Session?
    /// The `_csrf` value forms on this page must send back.
    public var csrfToken: String = ""
    /// A state-changing form's fields, parsed once by the CSRF check.
    public var form: FormData = FormData()
    /// The one-shot message to show on this page.
    public var flash: Flash?
    /// Unread notifications of the signed-in merchant (pages only).
    public var unreadNotifications: Int?
    /// Why an operator suspended the signed-in merchant, when they did (a banner on every page).
    public var suspension: String?
    /// The page's path and method, for the way back after logging in (`MerchantContext`).
    public var path: String = "/"
    public var method: HTTPRequest.Method = .get
    /// The API key behind a `/v1` request.
    public var apiClient: APIClient?

    /// The event loop of the request's connection (`EventLoopExecutorMiddleware`).
    public let eventLoop: any EventLoop

    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.eventLoop = source.channel.eventLoop
        self.remoteAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    public var maxUploadSize: Int { 1 << 20 }
}
