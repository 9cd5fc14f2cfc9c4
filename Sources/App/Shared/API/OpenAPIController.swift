import Foundation
import Hummingbird

/// `/openapi.yaml` (the spec, the source of truth for `/v1`) and `/docs` (the same, readable).
struct OpenAPIController: Sendable {
    let renderer: Renderer
    let spec: String
    let endpoints: [Endpoint]

    struct Endpoint: Sendable, Equatable {
        let method: String
        let path: String
        let summary: String
    }

    init(renderer: Renderer) {
        self.renderer = renderer
        self.spec = Self.bundledSpec()
        self.endpoints = Self.endpoints(in: spec)
    }

    static func bundledSpec() -> String {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"), let text = try? String(contentsOf: url, encoding: .utf8)
        else {
            return ""
        }
        return text
    }

    /// The operations the spec lists, read from its `paths:` block (two-space indented YAML).
    static func endpoints(in spec: String) -> [Endpoint] {
        var result: [Endpoint] = []
        var inPaths = false
        var path: String? = nil
        var method: String? = nil
        for line in spec.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" {
                inPaths = true
                continue
            }
            guard inPaths else { continue }
            if !line.isEmpty, !line.hasPrefix(" ") { break }
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                path = String(line.dropFirst(2).dropLast())
            } else if line.hasPrefix("    "), !line.hasPrefix("     "),
                let verb = ["get", "post", "put", "delete", "patch"].first(where: { line == "    \($0):" })
            {
                method = verb.uppercased()
            } else if let current = path, let verb = method, line.hasPrefix("      summary: ") {
                result.append(Endpoint(method: verb, path: current, summary: String(line.dropFirst("      summary: ".count))))
                method = nil
            }
        }
        return result
    }

    func addRoutes(to router: Router<AppRequestContext>) {
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
        let spec: String
    }

    struct EndpointRow: Sendable {
        let method: String
        let path: String
        let summary: String
    }

    func docs(_ request: Request, context: AppRequestContext) async throws -> Response {
        renderer.page(
            "developers/docs",
            title: "API reference",
            DocsView(endpoints: endpoints.map { EndpointRow(method: $0.method, path: $0.path, summary: $0.summary) }, spec: spec),
            context: context
        )
    }
}
