import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// A JSON response, parsed.
struct APIResponse {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let text: String

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:] }
    var error: [String: Any] { json["error"] as? [String: Any] ?? [:] }
    var code: String? { error["code"] as? String }
    var param: String? { error["param"] as? String }
    var message: String? { error["message"] as? String }
    var data: [[String: Any]] { json["data"] as? [[String: Any]] ?? [] }
}

extension TestClientProtocol {
    /// Calls the API with an optional bearer key and JSON body.
    func api(
        _ method: HTTPRequest.Method, _ path: String, key: String? = nil, json: String? = nil, idempotencyKey: String? = nil
    ) async throws -> APIResponse {
        var headers: HTTPFields = [:]
        if let key { headers[.authorization] = "Bearer \(key)" }
        if json != nil { headers[.contentType] = "application/json" }
        if let idempotencyKey { headers[.init("Idempotency-Key")!] = idempotencyKey }
        let response = try await execute(uri: path, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
        return APIResponse(status: response.status, headers: response.headers, text: String(buffer: response.body))
    }
}

extension Browser {
    /// Creates a key on /developers/keys and returns the secret the page shows once.
    func createAPIKey(name: String = "Backend", kind: String = "secret", scopes: [String] = []) async throws -> String {
        _ = try await get("/developers/keys")
        let page = try await post("/developers/keys", [("name", name), ("kind", kind)] + scopes.map { ("scopes", $0) })
        #expect(page.status == .created, "key created: \(page.status)")
        return try #require(Self.attribute(in: page.body, after: #"id="new-secret" type="text" readonly value=""#))
    }

    /// A merchant who accepts Visa and Mastercard in EUR and USD, with a secret key.
    static func merchantWithKey(_ client: some TestClientProtocol, name: String = "API Merchant") async throws -> (Browser, String) {
        let merchant = Browser(client)
        try await merchant.signUp(name: name, email: AccountsTests.uniqueEmail())
        try await merchant.acceptCards()
        return (merchant, try await merchant.createAPIKey())
    }
}
