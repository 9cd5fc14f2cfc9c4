import Hummingbird
import PaymentCore

/// A person's role in their account; each includes everything below it.
public enum Role: String, Sendable, CaseIterable, Comparable, Codable {
    /// Reads everything but secrets.
    case viewer
    /// Adds API keys and webhooks.
    case developer
    /// Adds links, forms, payment methods and refunds.
    case admin
    /// Adds the team and the business's settings.
    case owner

    var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }

    var label: String { rawValue.prefix(1).uppercased() + rawValue.dropFirst() }

    var summary: String {
        switch self {
        case .viewer: "reads everything but secrets"
        case .developer: "also creates API keys and webhooks"
        case .admin: "also creates links, forms and payment methods, and refunds"
        case .owner: "also runs the team and the business's settings"
        }
    }
}

/// Which role each merchant page needs, in one place. Reading (GET) needs a viewer, except the
/// audit log (owners). Changing needs, by area: one's own password, email choices, two-factor and
/// notifications and switching business any role; API keys and webhooks a developer; links, forms, payment methods and
/// payments (refunds) an admin; the team and the business's settings an owner. A path this table
/// does not know needs an owner.
enum RoleRules {
    static func required(method: HTTPRequest.Method, path: String) -> Role {
        let segments = path.split(separator: "/").map(String.init)
        let (area, part) = (segments.first ?? "", segments.dropFirst().first ?? "")
        if method == .get || method == .head {
            return area == "settings" && part == "audit" ? .owner : .viewer
        }
        switch area {
        case "notifications", "events", "businesses": return .viewer
        case "settings":
            switch part {
            case "password", "notifications", "security": return .viewer
            case "team" where segments.dropFirst(2).first == "leave": return .viewer
            default: return .owner
            }
        case "developers": return .developer
        case "links", "forms", "payment-methods", "payments": return .admin
        default: return .owner
        }
    }
}

/// Refuses a merchant page the person's role does not reach: 403, saying which role it needs
/// (drawn in the signed-in layout by `SignedInErrorPageMiddleware`).
struct RoleMiddleware: RouterMiddleware {
    typealias Context = MerchantContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // An operator's account is no business: of the merchant pages they have only their own
        // security (where they turn on the two-factor sign-in /ops requires).
        if context.session.isOperator, !request.uri.path.hasPrefix("/settings/security") {
            return Response(status: .seeOther, headers: [.location: "/ops"])
        }
        let needed = RoleRules.required(method: request.method, path: request.uri.path)
        let role = context.session.role
        guard role >= needed else {
            throw PageError(
                status: .forbidden, heading: "This needs the \(needed.rawValue) role",
                message:
                    "You are \(Self.article(role)) \(role.rawValue) in \(context.session.accountName), and this needs \(Self.article(needed)) \(needed.rawValue) (who \(needed.summary)). Ask an owner of the account if you need it."
            )
        }
        return try await next(request, context)
    }

    static func article(_ role: Role) -> String { role == .admin || role == .owner ? "an" : "a" }
}
