import Foundation
import PaymentCore

/// Checks of what a merchant types into the payment form editor, without I/O.
enum FormRules {
    /// `https://shop.example[:port]`, or `http://localhost[:port]` / `http://127.0.0.1[:port]` for
    /// development; nil for anything else (paths, queries, other schemes, plain http elsewhere).
    static func origin(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        // An internationalized host in its ASCII (IDNA, punycode) form: what browsers send as an
        // origin, and all an HTTP header such as the CSP may carry.
        guard let url = URLComponents(string: trimmed), let scheme = url.scheme?.lowercased(), let host = url.encodedHost?.lowercased(),
            !host.isEmpty, url.user == nil, url.password == nil, url.query == nil, url.fragment == nil, url.path.isEmpty || url.path == "/",
            host.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "." || $0 == "-" })
        else { return nil }
        switch scheme {
        case "https": break
        case "http": guard host == "localhost" || host == "127.0.0.1" else { return nil }
        default: return nil
        }
        if let port = url.port {
            guard (1...65535).contains(port) else { return nil }
            return "\(scheme)://\(host):\(port)"
        }
        return "\(scheme)://\(host)"
    }

    /// A redirect after payment: any https URL, or a URL on one of the allowed origins.
    static func redirectIsAllowed(_ text: String, origins: [String]) -> Bool {
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty, url.user == nil
        else { return false }
        if scheme == "https" { return true }
        let origin = "\(scheme)://\(host.lowercased())" + (url.port.map { ":\($0)" } ?? "")
        return origins.contains(origin)
    }

    static func color(_ text: String) -> String? {
        let lower = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard lower.count == 7, lower.first == "#", lower.dropFirst().allSatisfy({ $0.isHexDigit }) else { return nil }
        return lower
    }

    /// Checks a payer's answer to one field; returns the cleaned value or the message to show.
    static func answer(_ raw: String, for field: FormField) -> Result<String, FieldProblem> {
        let value = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if value.isEmpty {
            return field.required ? .failure(FieldProblem(message: "\(field.label) is required.")) : .success("")
        }
        guard value.length <= 500 else { return .failure(FieldProblem(message: "Use at most 500 characters.")) }
        switch field.kind {
        case .text: return .success(value)
        case .email:
            return AccountService.emailProblem(value).map { .failure(FieldProblem(message: $0)) } ?? .success(value)
        case .number:
            let number = value.replacingOccurrences(of: ",", with: ".")
            guard Double(number) != nil, number.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" }) else {
                return .failure(FieldProblem(message: "Enter a number."))
            }
            return .success(value)
        case .select:
            return field.options.contains(value) ? .success(value) : .failure(FieldProblem(message: "Choose one of the options."))
        }
    }

    struct FieldProblem: Error, Equatable {
        let message: String
    }
}
