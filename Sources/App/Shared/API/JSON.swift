import Foundation
import Hummingbird

/// A JSON document Kassa writes: ordered keys, integers as integers, explicit nulls.
enum JSON: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    case object([(String, JSON)])
    case array([JSON])
    case string(String)
    case int(Int64)
    case bool(Bool)
    case null
    /// JSON text Kassa itself stored (an event's data), written as is.
    case raw(String)

    init(stringLiteral value: String) { self = .string(value) }
    init(integerLiteral value: Int64) { self = .int(value) }
    init(booleanLiteral value: Bool) { self = .bool(value) }

    static func == (lhs: JSON, rhs: JSON) -> Bool { lhs.text == rhs.text }

    static func optional(_ value: String?) -> JSON { value.map { .string($0) } ?? .null }
    static func time(_ date: Date?) -> JSON { date.map { .int(Int64($0.timeIntervalSince1970)) } ?? .null }

    var text: String {
        var out = ""
        write(into: &out)
        return out
    }

    private func write(into out: inout String) {
        switch self {
        case .object(let pairs):
            out += "{"
            for (index, (key, value)) in pairs.enumerated() {
                if index > 0 { out += "," }
                JSON.quote(key, into: &out)
                out += ":"
                value.write(into: &out)
            }
            out += "}"
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                item.write(into: &out)
            }
            out += "]"
        case .string(let value): JSON.quote(value, into: &out)
        case .int(let value): out += String(value)
        case .bool(let value): out += value ? "true" : "false"
        case .null: out += "null"
        case .raw(let text): out += text
        }
    }

    private static func quote(_ text: String, into out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            // "&", "<" and ">" stay as they are: a URL copied from the output must work as is, and
            // no JSON is put into a page's HTML.
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    func response(status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// A JSON value a client sent, decoded strictly: `1` is not `true` and `"5"` is not `5`.
enum JSONValue: Decodable, Sendable, Equatable {
    case object([String: JSONValue])
    case array([JSONValue])
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case null

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    var typeName: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .int: "an integer"
        case .double: "a number with a fraction"
        case .bool: "a boolean"
        case .null: "null"
        }
    }
}

/// The error shape of DESIGN.md: `{"error": {"type", "code", "message", "param"}}`.
struct APIError: Error, Sendable {
    var status: HTTPResponse.Status
    var type: String
    var code: String
    var message: String
    var param: String?
    var headers: HTTPFields = [:]

    static func invalid(_ param: String, _ message: String, code: String = "parameter_invalid") -> APIError {
        APIError(status: .badRequest, type: "invalid_request_error", code: code, message: message, param: param)
    }

    static func unprocessable(_ code: String, _ message: String, param: String? = nil) -> APIError {
        APIError(status: .unprocessableContent, type: "invalid_request_error", code: code, message: message, param: param)
    }

    static func notFound(_ what: String, param: String? = "id") -> APIError {
        APIError(status: .notFound, type: "invalid_request_error", code: "resource_missing", message: "No such \(what).", param: param)
    }

    static let unauthenticated = APIError(
        status: .unauthorized, type: "authentication_error", code: "api_key_invalid",
        message: "Send a valid key as `Authorization: Bearer sk_...`.", param: nil, headers: [.wwwAuthenticate: "Bearer"]
    )

    var response: Response {
        let body = JSON.object([
            (
                "error",
                .object([("type", .string(type)), ("code", .string(code)), ("message", .string(message)), ("param", .optional(param))])
            )
        ])
        return body.response(status: status, headers: headers)
    }
}

/// A request's JSON object body, read field by field with errors that name the field.
struct JSONBody: Sendable {
    let fields: [String: JSONValue]
    /// Where these fields sit in the body (`paymentMethods[0]`), for error params.
    var path: String = ""

    init(validated fields: [String: JSONValue], path: String = "") {
        self.fields = fields
        self.path = path
    }

    private func param(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }

    init(_ buffer: ByteBuffer, allowed: Set<String>) throws(APIError) {
        if buffer.readableBytes == 0 {
            self.fields = [:]
            return
        }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(buffer: buffer))
        } catch {
            throw APIError(
                status: .badRequest, type: "invalid_request_error", code: "body_invalid", message: "The body is not valid JSON.", param: nil)
        }
        guard case .object(let fields) = value else {
            throw APIError(
                status: .badRequest, type: "invalid_request_error", code: "body_invalid", message: "The body must be a JSON object.", param: nil)
        }
        if let unknown = fields.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw APIError.invalid(unknown, "Unknown parameter `\(unknown)`.", code: "parameter_unknown")
        }
        self.fields = fields
    }

    func string(_ name: String, required: Bool = false, maxLength: Int = 500) throws(APIError) -> String? {
        switch fields[name] {
        case nil, .null?:
            if required { throw APIError.invalid(param(name), "`\(name)` is required.", code: "parameter_missing") }
            return nil
        case .string(let value)?:
            guard value.length <= maxLength else { throw APIError.invalid(param(name), "`\(name)` is longer than \(maxLength) characters.") }
            // PostgreSQL text cannot hold U+0000, and no person types it.
            guard !value.unicodeScalars.contains("\u{0}") else { throw APIError.invalid(param(name), "`\(name)` contains a NUL character.") }
            return value
        case let other?:
            throw APIError.invalid(param(name), "`\(name)` must be a string, not \(other.typeName).")
        }
    }

    func integer(_ name: String, required: Bool = false) throws(APIError) -> Int64? {
        switch fields[name] {
        case nil, .null?:
            if required { throw APIError.invalid(param(name), "`\(name)` is required.", code: "parameter_missing") }
            return nil
        case .int(let value)?:
            return value
        case let other?:
            throw APIError.invalid(param(name), "`\(name)` must be an integer, not \(other.typeName).")
        }
    }

    func strings(_ name: String, required: Bool = false) throws(APIError) -> [String]? {
        switch fields[name] {
        case nil, .null?:
            if required { throw APIError.invalid(param(name), "`\(name)` is required.", code: "parameter_missing") }
            return nil
        case .array(let items)?:
            var result: [String] = []
            for item in items {
                guard case .string(let value) = item, !value.unicodeScalars.contains("\u{0}"), value.length <= 100 else {
                    throw APIError.invalid(param(name), "`\(name)` must be an array of short strings.")
                }
                result.append(value)
            }
            return result
        case let other?:
            throw APIError.invalid(param(name), "`\(name)` must be an array of strings, not \(other.typeName).")
        }
    }
}
