import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOPosix
import PaymentCore
import PostgresNIO

/// Webhook endpoints: where a merchant wants events, and the `whsec_` secret that signs them
/// (Standard Webhooks), kept sealed with AES-GCM under a key derived from `KASSA_SECRET_KEY`.
struct WebhookEndpoints: Sendable {
    let database: PostgresClient
    let sealingKey: SymmetricKey
    /// Lets endpoints on loopback and private addresses through (local development and tests).
    let allowPrivateAddresses: Bool
    let logger: Logger
    /// Resolves a host to its addresses; the system's resolver unless a test gives another.
    var resolver: @Sendable (String, Int) async -> [String] = WebhookEndpoints.resolve

    static let eventTypes = [
        "payment.succeeded", "payment.failed", "payment.refunded", "payment.authorized", "payment.canceled", "payment_link.expired",
        "settlement.paid",
    ]

    struct Endpoint: Sendable, Equatable {
        let id: String
        let accountID: AccountID
        let url: String
        let events: [String]
        let status: String
        let disabledReason: String?
        let createdAt: Date
    }

    static func sealingKey(secret: [UInt8]) -> SymmetricKey {
        SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array("kassa webhook secrets v1".utf8), using: SymmetricKey(data: secret))))
    }

    func seal(_ secret: String) throws -> String {
        try SecretSealer(key: sealingKey).seal(Array(secret.utf8))
    }

    func open(_ sealed: String) throws -> String {
        String(decoding: try SecretSealer(key: sealingKey).open(sealed), as: UTF8.self)
    }

    /// A new signing secret: `whsec_` and 24 random bytes in base64 (Standard Webhooks).
    static func newSecret() -> String {
        "whsec_" + Data((0..<24).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
    }

    /// Where a delivery goes: the URL's host (for the Host header, TLS SNI and the certificate
    /// check) and the one address, checked, that the connection is made to.
    struct Target: Sendable, Equatable {
        let url: String
        let host: String
        let port: Int
        let address: String
    }

    struct Refused: Error, Equatable {
        let message: String
    }

    /// Checks the URL's form, resolves its host once and checks every address it gave (public
    /// unicast only, unless private addresses are allowed for local development, where plain http
    /// is allowed to loopback). The delivery connects to the address returned, never resolving
    /// again: a name that answers a public address to the check and a private one to the
    /// connection (DNS rebinding) reaches nothing it should not.
    func target(for text: String) async -> Result<Target, Refused> {
        guard text.count <= 2000, let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(), var host = url.host,
            !host.isEmpty, url.user == nil, url.password == nil
        else { return .failure(Refused(message: "Enter a full URL such as https://shop.example/webhooks/kassa.")) }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard scheme == "https" || scheme == "http" else { return .failure(Refused(message: "Use an https URL.")) }
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        guard (1...65535).contains(port) else { return .failure(Refused(message: "Enter a port from 1 to 65535.")) }
        let addresses = await resolver(host, port)
        guard let first = addresses.first else { return .failure(Refused(message: "\(host) does not resolve.")) }
        if scheme == "http" && !(allowPrivateAddresses && addresses.allSatisfy(PublicAddress.isLoopback)) {
            return .failure(Refused(message: "Use https (plain http is only for localhost while developing)."))
        }
        if !allowPrivateAddresses, let blocked = addresses.first(where: { !PublicAddress.isPublic($0) }) {
            return .failure(Refused(message: "\(host) points to a private or reserved address (\(blocked)); Kassa only calls public servers."))
        }
        return .success(Target(url: text, host: host, port: port, address: first))
    }

    /// Why a URL cannot take webhooks, or nil when it can.
    func problem(with text: String) async -> String? {
        if case .failure(let refused) = await target(for: text) { return refused.message }
        return nil
    }

    /// What a delivery got back: an HTTP status and the start of the body, or no answer.
    enum Answer: Sendable, Equatable {
        case http(status: Int, excerpt: String)
        case none
    }

    /// What the delivery log says for every failure short of an HTTP answer. One sentence for
    /// refused connections, resets, TLS failures and timeouts alike, so the log cannot be used to
    /// tell open ports from closed ones.
    static let noAnswer = "No HTTP answer: the connection failed or timed out."

    /// POSTs `body` to the target's checked address, with the URL's host in the Host header and
    /// in TLS (SNI and the certificate's name), following no redirect.
    func post(to target: Target, headers: [(String, String)], body: String) async -> Answer {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(10)))
        if PublicAddress.ipv4(target.host) == nil && PublicAddress.ipv6(target.host) == nil {
            configuration.dnsOverride[target.host] = target.address
            configuration.dnsOverride[target.host.lowercased()] = target.address
        }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        var request = HTTPClientRequest(url: target.url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let answer: Answer
        do {
            let response = try await client.execute(request, timeout: .seconds(10))
            let status = Int(response.status.code)
            let collected = (try? await response.body.collect(upTo: 4096)) ?? ByteBuffer()
            answer = (200...599).contains(status) ? .http(status: status, excerpt: String(String(buffer: collected).prefix(500))) : .none
        } catch {
            answer = .none
        }
        try? await client.shutdown()
        return answer
    }

    /// The system's resolver (getaddrinfo, on the thread pool): every address, IPv4 and IPv6.
    static func resolve(host: String, port: Int) async -> [String] {
        await withCheckedContinuation { continuation in
            NIOThreadPool.singleton.submit { _ in
                var hints = addrinfo()
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var result: UnsafeMutablePointer<addrinfo>? = nil
                guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
                    continuation.resume(returning: [])
                    return
                }
                defer { freeaddrinfo(first) }
                var addresses: [String] = []
                var cursor: UnsafeMutablePointer<addrinfo>? = first
                while let info = cursor {
                    var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                    if info.pointee.ai_family == AF_INET {
                        var address = info.pointee.ai_addr!.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                        if inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count)) != nil { addresses.append(String(cString: buffer)) }
                    } else if info.pointee.ai_family == AF_INET6 {
                        var address = info.pointee.ai_addr!.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                        if inet_ntop(AF_INET6, &address, &buffer, socklen_t(buffer.count)) != nil { addresses.append(String(cString: buffer)) }
                    }
                    cursor = info.pointee.ai_next
                }
                continuation.resume(returning: addresses)
            }
        }
    }

    /// A new endpoint and its secret, which is shown once.
    func create(accountID: AccountID, url: String, events: [String]) async throws -> (Endpoint, String) {
        let secret = Self.newSecret()
        let id = Identifier.make("we")
        let rows = try await database.query(
            """
            INSERT INTO webhook_endpoints (account_id, id, url, events, secret_sealed) VALUES (\(accountID), \(id), \(url), \(events), \(try seal(secret)))
            RETURNING created_at
            """,
            logger: logger
        )
        var created = Date()
        for try await value in rows.decode(Date.self) { created = value }
        return (Endpoint(id: id, accountID: accountID, url: url, events: events, status: "enabled", disabledReason: nil, createdAt: created), secret)
    }

    func list(accountID: AccountID) async throws -> [Endpoint] {
        try await fetch(
            "SELECT id, account_id, url, events, status, disabled_reason, created_at FROM webhook_endpoints WHERE account_id = \(accountID) ORDER BY created_at DESC"
        )
    }

    func find(accountID: AccountID, id: String) async throws -> Endpoint? {
        try await fetch(
            "SELECT id, account_id, url, events, status, disabled_reason, created_at FROM webhook_endpoints WHERE account_id = \(accountID) AND id = \(id)"
        ).first
    }

    func delete(accountID: AccountID, id: String) async throws -> Bool {
        let rows = try await database.query(
            "DELETE FROM webhook_endpoints WHERE account_id = \(accountID) AND id = \(id) RETURNING id", logger: logger)
        var found = false
        for try await _ in rows.decode(String.self) { found = true }
        return found
    }

    /// A new secret; the old one still signs (alongside) for 24 hours.
    func roll(accountID: AccountID, id: String) async throws -> String? {
        let secret = Self.newSecret()
        let rows = try await database.query(
            """
            UPDATE webhook_endpoints SET previous_secret_sealed = secret_sealed, previous_secret_until = now() + interval '24 hours',
                secret_sealed = \(try seal(secret))
            WHERE account_id = \(accountID) AND id = \(id) RETURNING id
            """,
            logger: logger
        )
        var found = false
        for try await _ in rows.decode(String.self) { found = true }
        return found ? secret : nil
    }

    /// The secrets that sign now: the current one, and during a roll's grace period the previous.
    func signingSecrets(accountID: AccountID, id: String) async throws -> [String] {
        let rows = try await database.query(
            """
            SELECT secret_sealed, CASE WHEN previous_secret_until > now() THEN previous_secret_sealed END
            FROM webhook_endpoints WHERE account_id = \(accountID) AND id = \(id)
            """,
            logger: logger
        )
        var secrets: [String] = []
        for try await (current, previous) in rows.decode((String, String?).self) {
            secrets.append(try open(current))
            if let previous { secrets.append(try open(previous)) }
        }
        return secrets
    }

    /// `webhook-signature` per Standard Webhooks: `v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>`,
    /// one per secret, space separated.
    static func signature(id: String, timestamp: Int64, body: String, secrets: [String]) -> String {
        secrets.compactMap { secret -> String? in
            guard let key = Data(base64Encoded: String(secret.dropFirst("whsec_".count))) else { return nil }
            let mac = HMAC<SHA256>.authenticationCode(for: Array("\(id).\(timestamp).\(body)".utf8), using: SymmetricKey(data: key))
            return "v1," + Data(mac).base64EncodedString()
        }.joined(separator: " ")
    }

    private func fetch(_ query: PostgresQuery) async throws -> [Endpoint] {
        let rows = try await database.query(query, logger: logger)
        var endpoints: [Endpoint] = []
        for try await (id, account, url, events, status, reason, created) in rows.decode(
            (String, AccountID, String, [String], String, String?, Date).self)
        {
            endpoints.append(
                Endpoint(id: id, accountID: account, url: url, events: events, status: status, disabledReason: reason, createdAt: created))
        }
        return endpoints
    }
}
