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

    static let eventTypes = ["payment.succeeded", "payment.failed", "payment.refunded", "payment_link.expired"]

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
        try AES.GCM.seal(Array(secret.utf8), using: sealingKey).combined!.base64EncodedString()
    }

    func open(_ sealed: String) throws -> String {
        guard let data = Data(base64Encoded: sealed) else { throw WebhookError.sealedSecretUnreadable }
        return String(decoding: try AES.GCM.open(AES.GCM.SealedBox(combined: data), using: sealingKey), as: UTF8.self)
    }

    enum WebhookError: Error, Equatable {
        case urlInvalid(String)
        case eventsInvalid(String)
        case sealedSecretUnreadable
    }

    /// Checks the URL's form and where its host resolves to (no private, loopback, link-local or
    /// metadata addresses unless allowed). Returns a reason when refused.
    func problem(with text: String) async -> String? {
        guard text.length <= 2000, let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty,
            url.user == nil, url.password == nil
        else { return "Enter a full URL such as https://shop.example/webhooks/kassa." }
        switch scheme {
        case "https": break
        case "http":
            guard allowPrivateAddresses, ["localhost", "127.0.0.1", "::1"].contains(host.lowercased()) else {
                return "Use https (plain http is only for localhost while developing)."
            }
        default: return "Use an https URL."
        }
        let addresses = await Self.resolve(host: host, port: url.port ?? (scheme == "https" ? 443 : 80))
        guard !addresses.isEmpty else { return "\(host) does not resolve." }
        if !allowPrivateAddresses, let blocked = addresses.first(where: Self.isPrivate) {
            return "\(host) points to a private address (\(blocked)); Kassa only calls public servers."
        }
        return nil
    }

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

    /// Loopback, private (RFC 1918, ULA), link-local (cloud metadata lives there), CGNAT, unspecified.
    static func isPrivate(_ ip: String) -> Bool {
        if ip.contains(":") {
            let lower = ip.lowercased()
            if lower.hasPrefix("::ffff:") { return isPrivate(String(lower.dropFirst(7))) }
            return lower == "::1" || lower == "::" || lower.hasPrefix("fc") || lower.hasPrefix("fd") || lower.hasPrefix("fe80")
        }
        let parts = ip.split(separator: ".").compactMap { Int($0) }
        guard parts.count == 4 else { return true }
        switch (parts[0], parts[1]) {
        case (10, _), (127, _), (0, _): return true
        case (172, 16...31), (192, 168), (169, 254): return true
        case (100, 64...127): return true
        default: return parts[0] >= 224
        }
    }

    /// A new endpoint and its secret, which is shown once.
    func create(accountID: AccountID, url: String, events: [String]) async throws -> (Endpoint, String) {
        let secret = "whsec_" + Data((0..<24).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
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
        let secret = "whsec_" + Data((0..<24).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
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
