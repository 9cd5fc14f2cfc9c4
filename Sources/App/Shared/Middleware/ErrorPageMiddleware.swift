import Hummingbird
import Logging
import NIOCore
import PaymentCore
import PostgresNIO
import RedisClient

/// Turns errors into pages that look like the rest of the site (HTML) or into the
/// JSON error shape (`/v1`). Redirects thrown as errors pass through untouched.
struct ErrorPageMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let renderer: Renderer

    struct ErrorView: Sendable {
        let status: Int
        let heading: String
        let message: String
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return try self.response(for: error, to: request, context: context)
        }
    }

    /// The page (or, under `/v1`, the JSON error) for `error`; redirects thrown as errors are
    /// thrown again.
    func response(for error: any Error, to request: Request, context: Context) throws -> Response {
        let payer = Self.payerPrefixes.contains { request.uri.path.hasPrefix($0) }
        do {
            throw error
        } catch let error as HTTPError where request.uri.path.hasPrefix("/v1/") && !(300..<400).contains(error.status.code) {
            // An unknown /v1 route still answers in the API's shape.
            var response = APIErrorMiddleware.response(error, to: request)
            response.headers[.init("Kassa-Version")!] = APIErrorMiddleware.version
            return response
        } catch let error as PageError {
            return self.render(
                status: error.status, heading: error.heading, message: error.message, headers: error.headers, payer: payer, context: context)
        } catch let error as PaymentError {
            // A refusal of the core a page did not turn into a form message (a race, mostly).
            let (status, heading, message) = Self.words(for: error)
            return self.render(status: status, heading: heading, message: message, headers: [:], payer: payer, context: context)
        } catch let error as FieldProblems {
            let message = error.problems.map(\.message).joined(separator: " ")
            return self.render(
                status: .unprocessableContent, heading: "Something in that form was not right", message: message, headers: [:], payer: payer,
                context: context)
        } catch let error as HTTPError {
            if (300..<400).contains(error.status.code) { throw error }
            let (heading, message) = Self.words(for: error.status)
            return self.render(
                status: error.status, heading: heading, message: error.body ?? message, headers: error.headers, payer: payer, context: context)
        } catch is NIOTooManyBytesError {
            // A body over its route's limit: the client's mistake, not ours.
            if request.uri.path.hasPrefix("/v1/") {
                var response = APIErrorMiddleware.fromHTTP(HTTPError(.contentTooLarge)).response
                response.headers[.init("Kassa-Version")!] = APIErrorMiddleware.version
                return response
            }
            let (heading, message) = Self.words(for: .contentTooLarge)
            return self.render(status: .contentTooLarge, heading: heading, message: message, headers: [:], payer: payer, context: context)
        } catch let error as RedisError {
            // Sessions and rate limits are away (Redis restarting, a Sentinel failover): a clear
            // "try again", never a 500.
            context.logger.warning("redis unavailable", metadata: ["error": "\(error)"])
            return self.unavailable(payer: payer, context: context)
        } catch let error as PSQLError where DatabaseFailure.isUnavailable(error) {
            // PostgreSQL is away (restarting, failing over): a clear "try again", never a 500.
            context.logger.warning("database unavailable", metadata: ["code": "\(error.code)", "sqlstate": "\(error.serverInfo?[.sqlState] ?? "-")"])
            return self.unavailable(payer: payer, context: context)
        } catch let error as PSQLError {
            // The server's message and SQLSTATE only: DETAIL can quote row values.
            context.logger.error(
                "database error",
                metadata: ["sqlstate": "\(error.serverInfo?[.sqlState] ?? "-")", "detail": "\(error.serverInfo?[.message] ?? "\(error.code)")"]
            )
            let (heading, message) = Self.words(for: .internalServerError)
            return self.render(status: .internalServerError, heading: heading, message: message, headers: [:], payer: payer, context: context)
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: type(of: error)))", "detail": "\(error)"])
            let (heading, message) = Self.words(for: .internalServerError)
            return self.render(status: .internalServerError, heading: heading, message: message, headers: [:], payer: payer, context: context)
        }
    }

    /// 503 with `Retry-After: 2`: a store Kassa needs is away for a moment (a restart, a failover).
    private func unavailable(payer: Bool, context: Context) -> Response {
        let (heading, message) = Self.words(for: .serviceUnavailable)
        return self.render(
            status: .serviceUnavailable, heading: heading, message: message, headers: [.retryAfter: "2"], payer: payer, context: context)
    }

    /// Pages payers see: their errors carry no merchant navigation.
    static let payerPrefixes = ["/pay/", "/receipts/", "/embed/"]

    private func render(status: HTTPResponse.Status, heading: String, message: String, headers: HTTPFields, payer: Bool, context: Context) -> Response
    {
        var response = renderer.page(
            "errors/error",
            title: heading,
            ErrorView(status: status.code, heading: heading, message: message),
            context: context,
            status: status,
            bodyClass: payer ? "checkout" : "",
            payer: payer
        )
        for field in headers where field.name != .contentType && field.name != .contentLength {
            response.headers[field.name] = field.value
        }
        return response
    }

    /// The core's refusals as a page: status, heading, message. Mirrors the API's map (`APIErrorMiddleware.map`).
    static func words(for error: PaymentError) -> (HTTPResponse.Status, String, String) {
        switch error {
        case .notFound: (.notFound, "Payment not found", "We could not find that payment.")
        case .linkNotFound: (.notFound, "Payment link not found", "We could not find that payment link.")
        case .issuerNotFound(let issuer): (.unprocessableContent, "Card issuer not found", "Kassa does not know the card issuer \(issuer).")
        case .invalidTransition(let from, let to):
            (.conflict, "That change is not possible", "A payment that is \(from.label.lowercased()) cannot become \(to.label.lowercased()).")
        case .linkNotActive(let status): (.conflict, "This payment link is \(status.label.lowercased())", "It takes no more payments.")
        case .linkInProgress, .attemptInProgress:
            (.conflict, "A payment is in progress", "Wait a moment, then reload the page to see how it ended.")
        case .notRefundable(let status):
            (.unprocessableContent, "This payment cannot be refunded", RefundRefusal.notRefundable(status))
        case .methodExists: (.unprocessableContent, "Already accepted", "You already accept this card issuer.")
        case .captureExceedsAuthorized(let available):
            (.unprocessableContent, "Capture too large", "You can capture at most \(available.formatted), the authorized amount.")
        case .methodInUse(let links):
            (.conflict, "This payment method is in use", "\(links) open payment link\(links == 1 ? "" : "s") take payments through it.")
        case .cardNotAccepted(_, let issuer): (.unprocessableContent, "Card not accepted", "Cards from \(issuer) are not accepted for this payment.")
        case .amountOutOfRange: (.unprocessableContent, "Amount not possible", "The amount must be above zero and at most the maximum.")
        case .refundExceedsCaptured(let available): (.unprocessableContent, "Refund too large", RefundRefusal.exceeds(available))
        case .unsupportedCurrencies(let codes):
            (.unprocessableContent, "Currency not supported", "The card issuer does not settle in \(codes.joined(separator: ", ")).")
        case .issuerUnavailable(let issuer):
            (
                .serviceUnavailable, "The card issuer cannot be reached",
                "\(issuer) is not answering right now. Nothing was charged; please try again shortly."
            )
        }
    }

    static func words(for status: HTTPResponse.Status) -> (String, String) {
        switch status.code {
        case 400: ("Something in that request was not right", "Please go back and try again.")
        case 403: ("Not allowed", "You do not have access to this page.")
        case 404: ("Page not found", "We could not find the page you asked for. Check the address, or go back to your dashboard.")
        case 405: ("Not allowed", "This address does not accept that kind of request.")
        case 410: ("Gone", "This page is no longer available.")
        case 413: ("Too large", "What you sent is larger than we accept.")
        case 429: ("Too many attempts", "Please wait a moment before trying again.")
        case 503: ("Temporarily unavailable", "Kassa cannot reach one of its services right now. Please try again in a minute.")
        default: ("Something went wrong", "An unexpected error stopped this page. It has been logged; please try again.")
        }
    }
}

/// An error that should reach the person as a page with these words.
struct PageError: Error {
    var status: HTTPResponse.Status
    var heading: String
    var message: String
    var headers: HTTPFields = [:]

    static func csrf() -> PageError {
        PageError(
            status: .forbidden,
            heading: "This form has expired",
            message: "For your security the form could not be accepted. Go back, reload the page and submit it again."
        )
    }

    static func tooManyAttempts(retryAfter seconds: Int) -> PageError {
        let minutes = (seconds + 59) / 60
        return PageError(
            status: .tooManyRequests,
            heading: "Too many attempts",
            message: "Please wait \(minutes == 1 ? "a minute" : "\(minutes) minutes") before trying again.",
            headers: [.retryAfter: String(seconds)]
        )
    }
}
