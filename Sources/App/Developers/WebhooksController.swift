import Foundation
import Hummingbird
import Mustache
import PaymentCore
import PostgresNIO

/// `/developers/webhooks`: endpoints, their secrets (shown once), delivery logs and resends.
struct WebhooksController: Sendable {
    let endpoints: WebhookEndpoints
    let consumers: EventConsumers
    let renderer: Renderer
    let secureCookies: Bool

    func addRoutes(to router: RouterGroup<MerchantContext>) {
        router.get("/developers/webhooks", use: self.list)
        router.post("/developers/webhooks", use: self.create)
        router.get("/developers/webhooks/:id", use: self.show)
        router.post("/developers/webhooks/:id/delete", use: self.delete)
        router.post("/developers/webhooks/:id/roll", use: self.roll)
        router.post("/developers/webhooks/:id/deliveries/:delivery/resend", use: self.resend)
        router.post("/developers/webhooks/:id/test", use: self.sendTest)
    }

    struct Option: Sendable {
        let value: String
        let checked: Bool
    }

    struct EndpointRow: Sendable {
        let id: String
        let url: String
        let events: String
        let status: String
        let statusClass: String
        let reason: String?
    }

    struct ListView: Sendable {
        let endpoints: [EndpointRow]
        let hasEndpoints: Bool
        let events: [Option]
        let secret: String?
        let form: [String: String]
        let errors: [String: String]
        let summary: FormState.Summary?
    }

    struct DeliveryRow: Sendable {
        let id: String
        let eventType: String
        let eventID: String
        let status: String
        let statusClass: String
        let attempts: Int
        let created: String
        let request: String
        let tries: [AttemptRow]
    }

    struct AttemptRow: Sendable {
        let time: String
        let result: String
        let duration: Int
        let excerpt: String?
    }

    struct ShowView: Sendable {
        let endpoint: EndpointRow
        let deliveries: [DeliveryRow]
        let hasDeliveries: Bool
        let secret: String?
    }

    static func row(_ endpoint: WebhookEndpoints.Endpoint) -> EndpointRow {
        EndpointRow(
            id: endpoint.id, url: endpoint.url, events: endpoint.events.joined(separator: ", "),
            status: endpoint.status == "enabled" ? "Enabled" : "Disabled",
            statusClass: endpoint.status == "enabled" ? "ok" : "bad", reason: endpoint.disabledReason
        )
    }

    func list(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        return try await render(accountID: session.accountID, state: FormState(), secret: nil, context: context, status: .ok)
    }

    func create(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let url = context.form["url"] ?? ""
        let events = context.form.all("events")
        var state = FormState(values: ["url": url, "events": events.joined(separator: ",")])
        if url.isEmpty {
            state.errors["url"] = "Enter the URL Kassa should send events to."
        } else if let problem = await endpoints.problem(with: url) {
            state.errors["url"] = problem
        }
        if events.isEmpty {
            state.errors["events"] = "Choose at least one event."
        } else if let unknown = events.first(where: { !WebhookEndpoints.eventTypes.contains($0) }) {
            state.errors["events"] = "“\(unknown)” is not an event Kassa sends."
        }
        guard !state.hasErrors else {
            return try await render(accountID: session.accountID, state: state, secret: nil, context: context, status: .unprocessableContent)
        }
        let (endpoint, secret) = try await endpoints.create(accountID: session.accountID, url: url, events: events)
        context.logger.info("webhook endpoint created", metadata: ["webhook_endpoint_id": .string(endpoint.id)])
        return try await render(accountID: session.accountID, state: FormState(), secret: secret, context: context, status: .created)
    }

    func show(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        return try await renderShow(accountID: session.accountID, id: try context.parameters.require("id"), secret: nil, context: context)
    }

    func delete(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        guard try await endpoints.delete(accountID: session.accountID, id: try context.parameters.require("id")) else { throw HTTPError(.notFound) }
        return .redirect(to: "/developers/webhooks", secureCookies: secureCookies)
    }

    func roll(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let id = try context.parameters.require("id")
        guard let secret = try await endpoints.roll(accountID: session.accountID, id: id) else { throw HTTPError(.notFound) }
        return try await renderShow(accountID: session.accountID, id: id, secret: secret, context: context)
    }

    func sendTest(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let id = try context.parameters.require("id")
        guard try await consumers.sendTest(accountID: session.accountID, endpointID: id) else { throw HTTPError(.notFound) }
        return .redirect(to: "/developers/webhooks/\(id)", flash: .testEventQueued, secureCookies: secureCookies)
    }

    func resend(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let id = try context.parameters.require("id")
        guard try await consumers.resend(accountID: session.accountID, deliveryID: try context.parameters.require("delivery")) else {
            throw HTTPError(.notFound)
        }
        return .redirect(to: "/developers/webhooks/\(id)", secureCookies: secureCookies)
    }

    private func render(
        accountID: AccountID, state: FormState, secret: String?, context: MerchantContext, status: HTTPResponse.Status
    ) async throws -> Response {
        let list = try await endpoints.list(accountID: accountID)
        let chosen = Set((state.values["events"] ?? "").split(separator: ",").map(String.init))
        return renderer.page(
            "developers/webhooks",
            title: "Webhooks",
            ListView(
                endpoints: list.map(Self.row), hasEndpoints: !list.isEmpty,
                events: WebhookEndpoints.eventTypes.map { Option(value: $0, checked: chosen.isEmpty || chosen.contains($0)) },
                secret: secret, form: state.values, errors: state.errors, summary: state.summary(order: ["url", "events"])
            ),
            context: context,
            status: status
        )
    }

    private func renderShow(accountID: AccountID, id: String, secret: String?, context: MerchantContext) async throws -> Response {
        guard let endpoint = try await endpoints.find(accountID: accountID, id: id) else { throw HTTPError(.notFound) }
        let database = endpoints.database
        let rows = try await database.query(
            """
            SELECT id, event_type, event_id, status, attempts, created_at, left(payload, 400) FROM webhook_deliveries
            WHERE account_id = \(accountID) AND endpoint_id = \(id) ORDER BY created_at DESC LIMIT 50
            """,
            logger: context.logger
        )
        var deliveries: [DeliveryRow] = []
        for try await (deliveryID, type, event, status, attempts, created, payload) in rows.decode(
            (String, String, String, String, Int, Date, String).self)
        {
            let log = try await database.query(
                """
                SELECT attempted_at, response_status, duration_ms, response_excerpt, error FROM webhook_attempts
                WHERE account_id = \(accountID) AND delivery_id = \(deliveryID) ORDER BY attempted_at DESC LIMIT 10
                """,
                logger: context.logger
            )
            var tries: [AttemptRow] = []
            for try await (at, code, duration, excerpt, error) in log.decode((Date, Int?, Int, String?, String?).self) {
                tries.append(
                    AttemptRow(
                        time: Formats.dateTime(at), result: code.map { "HTTP \($0)" } ?? (error ?? "no answer"), duration: duration, excerpt: excerpt)
                )
            }
            deliveries.append(
                DeliveryRow(
                    id: deliveryID, eventType: type, eventID: event, status: status.capitalized,
                    statusClass: status == "delivered" ? "ok" : (status == "failed" ? "bad" : "info"), attempts: attempts,
                    created: Formats.dateTime(created), request: payload, tries: tries
                )
            )
        }
        return renderer.page(
            "developers/webhook",
            title: "Webhook endpoint",
            ShowView(endpoint: Self.row(endpoint), deliveries: deliveries, hasDeliveries: !deliveries.isEmpty, secret: secret),
            context: context
        )
    }
}

/// `/v1/webhook_endpoints`.
struct WebhookAPIController: Sendable {
    let endpoints: WebhookEndpoints

    func addRoutes(to routes: APIRoutes) {
        routes.needing("webhook_endpoints:read").get("webhook_endpoints", use: self.list)
        let write = routes.needing("webhook_endpoints:write")
        write.post("webhook_endpoints", use: self.create)
        write.delete("webhook_endpoints/:id", use: self.delete)
    }

    static func json(_ endpoint: WebhookEndpoints.Endpoint, secret: String? = nil) -> JSON {
        var pairs: [(String, JSON)] = [
            ("id", .string(endpoint.id)), ("object", "webhook_endpoint"), ("url", .string(endpoint.url)),
            ("events", .array(endpoint.events.map { .string($0) })), ("status", .string(endpoint.status)), ("created_at", .time(endpoint.createdAt)),
        ]
        if let secret { pairs.append(("secret", .string(secret))) }
        return .object(pairs)
    }

    func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        return API.list(try await endpoints.list(accountID: client.accountID).map { Self.json($0) }, hasMore: false)
    }

    func create(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        let body = try await API.body(request, context: context, allowed: ["url", "events"])
        let url = try body.string("url", required: true, maxLength: 2000)!
        let events = try body.strings("events", required: true)!
        guard !events.isEmpty, events.allSatisfy(WebhookEndpoints.eventTypes.contains) else {
            throw APIError.invalid("events", "`events` must list some of \(WebhookEndpoints.eventTypes.joined(separator: ", ")).")
        }
        if let problem = await endpoints.problem(with: url) { throw APIError.unprocessable("url_invalid", problem, param: "url") }
        let (endpoint, secret) = try await endpoints.create(accountID: client.accountID, url: url, events: Array(Set(events)).sorted())
        return Self.json(endpoint, secret: secret).response(status: .created)
    }

    func delete(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        let id = try context.parameters.require("id")
        guard try await endpoints.delete(accountID: client.accountID, id: id) else { throw APIError.notFound("webhook endpoint") }
        return JSON.object([("id", .string(id)), ("object", "webhook_endpoint"), ("deleted", true)]).response()
    }
}

// Views rendered by name, not through Mirror (see `ViewParity`).
extension WebhooksController.Option: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "value": self.value
        case "checked": self.checked
        default: nil
        }
    }
}

extension WebhooksController.EndpointRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": self.id
        case "url": self.url
        case "events": self.events
        case "status": self.status
        case "statusClass": self.statusClass
        case "reason": self.reason
        default: nil
        }
    }
}

extension WebhooksController.ListView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "endpoints": self.endpoints
        case "hasEndpoints": self.hasEndpoints
        case "events": self.events
        case "secret": self.secret
        case "form": self.form
        case "errors": self.errors
        case "summary": self.summary
        default: nil
        }
    }
}

extension WebhooksController.DeliveryRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": self.id
        case "eventType": self.eventType
        case "eventID": self.eventID
        case "status": self.status
        case "statusClass": self.statusClass
        case "attempts": self.attempts
        case "created": self.created
        case "request": self.request
        case "tries": self.tries
        default: nil
        }
    }
}

extension WebhooksController.AttemptRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "time": self.time
        case "result": self.result
        case "duration": self.duration
        case "excerpt": self.excerpt
        default: nil
        }
    }
}

extension WebhooksController.ShowView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "endpoint": self.endpoint
        case "deliveries": self.deliveries
        case "hasDeliveries": self.hasDeliveries
        case "secret": self.secret
        default: nil
        }
    }
}
