import Foundation
import Hummingbird
import Mustache

/// `/openapi.yaml` (the spec, the source of truth for `/v1`) and `/docs` (the same, readable).
struct OpenAPIController: Sendable {
    let renderer: Renderer
    let spec: String
    /// The spec's operations, read from it once (reading them on every view was most of `/docs`'s CPU).
    let operations: [Operation]
    let endpoints: [Endpoint]
    /// The public address, for the curl lines.
    var baseURL = "http://127.0.0.1:8080"
    /// The merchant's keys, to start each curl line with theirs when signed in.
    var keys: APIKeys? = nil

    struct Endpoint: Sendable, Equatable {
        let method: String
        let path: String
        let summary: String
    }

    init(renderer: Renderer, baseURL: String = "http://127.0.0.1:8080", keys: APIKeys? = nil) {
        self.renderer = renderer
        self.baseURL = baseURL
        self.keys = keys
        self.spec = Self.bundledSpec()
        self.operations = Self.operations(in: spec)
        self.endpoints = Self.endpoints(of: operations)
    }

    static func bundledSpec() -> String {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"), let text = try? String(contentsOf: url, encoding: .utf8)
        else {
            return ""
        }
        return text
    }

    /// The operations the spec lists (the routes a test holds against the router).
    static func endpoints(in spec: String) -> [Endpoint] {
        endpoints(of: operations(in: spec))
    }

    static func endpoints(of operations: [Operation]) -> [Endpoint] {
        operations.map { Endpoint(method: $0.method, path: $0.path, summary: $0.summary) }
    }

    /// One operation of the spec, for the reference: its YAML as written, the statuses it answers.
    struct Operation: Sendable, Equatable {
        let method: String
        let path: String
        let summary: String
        let operationID: String
        let yaml: String
        let statuses: [String]
        let hasBody: Bool
    }

    /// The operations under `paths:`, each with its own lines (two-space indented YAML, as the
    /// spec is written; `endpoints(in:)` reads the same block).
    static func operations(in spec: String) -> [Operation] {
        var result: [Operation] = []
        var inPaths = false
        var path: String? = nil
        var current: (method: String, lines: [Substring])? = nil
        func finish() {
            guard let open = current, let path else { return }
            let lines = open.lines
            func value(_ key: String) -> String {
                lines.first { $0.hasPrefix("      \(key): ") }.map { String($0.dropFirst("      \(key): ".count)) } ?? ""
            }
            let statuses = lines.compactMap { line -> String? in
                guard line.hasPrefix("        \""), line.count > 12 else { return nil }
                let code = line.dropFirst(9).prefix(3)
                return code.allSatisfy(\.isNumber) ? String(code) : nil
            }
            result.append(
                Operation(
                    method: open.method.uppercased(), path: path, summary: value("summary"), operationID: value("operationId"),
                    yaml: ([Substring("\(open.method):")] + lines.map { $0.dropFirst(4) }).joined(separator: "\n"), statuses: statuses,
                    hasBody: lines.contains { $0.hasPrefix("      requestBody:") }))
            current = nil
        }
        for line in spec.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" {
                inPaths = true
                continue
            }
            guard inPaths else { continue }
            if !line.isEmpty, !line.hasPrefix(" ") { break }
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                finish()
                path = String(line.dropFirst(2).dropLast())
            } else if line.hasPrefix("    "), !line.hasPrefix("     "),
                let verb = ["get", "post", "put", "delete", "patch"].first(where: { line == "    \($0):" })
            {
                finish()
                current = (verb, [])
            } else if line.hasPrefix("    "), !line.hasPrefix("     ") {
                finish()  // a path-level key (parameters:) ends the operation before it
            } else if current != nil {
                current?.lines.append(line)
            }
        }
        finish()
        return result
    }

    /// A request body to start from, per operation that takes one.
    static let exampleBodies: [String: String] = [
        "createPaymentMethod": #"{"issuer": "iss_test_visa", "currencies": ["EUR", "USD"]}"#,
        "updatePaymentMethod": #"{"currencies": ["EUR"]}"#,
        "createPaymentLink": #"{"amount": 2450, "currency": "EUR", "description": "Two bags of house blend", "expires_in": 604800, "max_uses": 1}"#,
        "createRefund": #"{"amount": 1000, "reason": "Returned one bag"}"#,
        "createWebhookEndpoint": #"{"url": "https://shop.example/kassa/webhooks", "events": ["payment.succeeded", "payment.refunded"]}"#,
        "createCheckoutSession": #"{"form": "form_…", "amount": 2500}"#,
        "createUser": #"{"name": "Mira Okafor", "email": "mira@example.com", "password": "a long passphrase of yours"}"#,
        "createToken": #"{"email": "mira@example.com", "password": "a long passphrase of yours"}"#,
        "updateMe": #"{"paymentMethods": [{"issuer": "iss_test_visa", "currencies": ["EUR"]}]}"#,
    ]

    /// A curl line a developer can paste: their key's visible start, a sample id in the path, the
    /// headers a POST wants (an idempotency key), and a body to start from.
    static func curl(_ operation: Operation, base: String, key: String) -> String {
        let sample =
            [("/v1/payment_links", "plink_…"), ("/v1/payment_methods", "pm_…"), ("/v1/webhook_endpoints", "we_…")]
            .first { operation.path.hasPrefix($0.0) }?.1 ?? "pay_…"
        let path = operation.path.replacingOccurrences(of: "{id}", with: sample)
        var lines = ["curl -X \(operation.method) '\(base)\(path)'", "  -H 'Authorization: Bearer \(key)'"]
        if operation.method == "POST" {
            lines.append("  -H \"Idempotency-Key: $(uuidgen)\"")
        }
        if operation.hasBody {
            lines.append("  -H 'Content-Type: application/json'")
            lines.append("  -d '\(exampleBodies[operation.operationID] ?? "{}")'")
        }
        return lines.joined(separator: " \\\n")
    }

    func addRoutes(to router: some RouterMethods<AppRequestContext>) {
        router.get("/openapi.yaml", use: self.yaml)
        router.get("/docs", use: self.docs)
    }

    func yaml(_ request: Request, context: AppRequestContext) async throws -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/yaml; charset=utf-8", .cacheControl: "public, max-age=300"],
            body: .init(byteBuffer: ByteBuffer(string: spec))
        )
    }

    struct DocsView: Sendable {
        let endpoints: [EndpointRow]
        let operations: [OperationView]
        let keyHint: String
        let signedIn: Bool
    }

    struct EndpointRow: Sendable {
        let method: String
        let path: String
        let summary: String
        let anchor: String
    }

    struct OperationView: Sendable {
        let anchor: String
        let method: String
        let path: String
        let summary: String
        let statuses: String
        let curl: String
        let yaml: String
    }

    func docs(_ request: Request, context: AppRequestContext) async throws -> Response {
        // Signed in: the curl lines start with the merchant's newest secret key, as far as it is
        // shown anywhere (its first characters), for them to complete with the whole key.
        var key = "sk_…"
        if let session = context.session, let keys,
            let newest = try await keys.list(accountID: session.accountID).first(where: { $0.kind == .secret && $0.isActive(at: Date()) })
        {
            key = newest.lookup + "…"
        }
        return renderer.page(
            "developers/docs",
            title: "API reference",
            DocsView(
                endpoints: operations.map { EndpointRow(method: $0.method, path: $0.path, summary: $0.summary, anchor: $0.operationID) },
                operations: operations.map {
                    OperationView(
                        anchor: $0.operationID, method: $0.method, path: $0.path, summary: $0.summary,
                        statuses: $0.statuses.joined(separator: ", "), curl: Self.curl($0, base: baseURL, key: key), yaml: $0.yaml)
                },
                keyHint: key, signedIn: context.session != nil
            ),
            context: context
        )
    }
}

// Views rendered by name, not through Mirror (see `ViewParity`).
extension OpenAPIController.DocsView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "endpoints": self.endpoints
        case "operations": self.operations
        case "keyHint": self.keyHint
        case "signedIn": self.signedIn
        default: nil
        }
    }
}

extension OpenAPIController.EndpointRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "method": self.method
        case "path": self.path
        case "summary": self.summary
        case "anchor": self.anchor
        default: nil
        }
    }
}

extension OpenAPIController.OperationView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "anchor": self.anchor
        case "method": self.method
        case "path": self.path
        case "summary": self.summary
        case "statuses": self.statuses
        case "curl": self.curl
        case "yaml": self.yaml
        default: nil
        }
    }
}
