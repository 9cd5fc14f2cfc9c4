import Hummingbird
import NIOCore

/// Behind a proxy of yours (`KASSA_TRUST_FORWARDED_FOR=true`), the client is the address that proxy
/// appended to `X-Forwarded-For`: the right-most entry. Entries to its left were written by whoever
/// sent the request and prove nothing, so they are never used; when the right-most entry is not an
/// IP address the header is ignored, not searched for one that is. Without the setting the header is ignored: anyone could send one, and every per-IP budget
/// (login, signup) would be theirs to choose. First in the chain, so the log and the budgets see it.
struct ClientAddressMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let trustForwardedFor: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let values = request.headers[values: .init("X-Forwarded-For")!]
        guard trustForwardedFor, !values.isEmpty, let client = Self.client(forwardedFor: values.joined(separator: ",")) else {
            return try await next(request, context)
        }
        var context = context
        context.remoteAddress = client
        return try await next(request, context)
    }

    /// The right-most entry of the (comma-joined) header when it is an IPv4 or IPv6 address.
    static func client(forwardedFor header: String) -> String? {
        if let entry = header.split(separator: ",", omittingEmptySubsequences: false).last {
            var candidate = entry.trimmingCharacters(in: .whitespaces)
            // "[2001:db8::1]:443" and "203.0.113.5:8080" carry a port some proxies add.
            if candidate.hasPrefix("["), let end = candidate.firstIndex(of: "]") {
                candidate = String(candidate[candidate.index(after: candidate.startIndex)..<end])
            } else if candidate.filter({ $0 == ":" }).count == 1, let colon = candidate.firstIndex(of: ":") {
                candidate = String(candidate[..<colon])
            }
            if (try? SocketAddress(ipAddress: candidate, port: 0)) != nil { return candidate }
        }
        return nil
    }
}
