import Crypto
import Foundation
import PaymentCore
import RedisClient
import Synchronization

/// A signed-in merchant, kept in Redis under a hash of its opaque id.
public struct Session: Codable, Sendable, Equatable {
    /// The opaque 256-bit id from the cookie; never stored in Redis as is, never logged.
    public var id: String = ""
    public var userID: String
    public var accountID: AccountID
    public var userName: String
    public var email: String
    public var accountName: String
    public var createdAt: Int
    /// The account's time zone for its pages (absent from sessions made before it existed: UTC).
    public var timeZone: String?
    /// The person's role (absent from sessions made before roles, when everyone owned their
    /// account). A change of role ends the person's sessions, so this is never stale.
    var storedRole: Role?
    public var role: Role { storedRole ?? .owner }
    /// A platform operator's session: it opens `/ops`, and no merchant page.
    var storedOperator: Bool?
    public var isOperator: Bool { storedOperator ?? false }

    enum CodingKeys: String, CodingKey {
        case userID = "u", accountID = "a", userName = "n", email = "e", accountName = "an", createdAt = "c", timeZone = "tz", storedRole = "r"
        case storedOperator = "op"
    }
}

/// Server-side sessions in Redis with an idle timeout that each use renews.
public struct SessionStore: Sendable {
    let redis: RedisClient
    let prefix: String
    let idleTimeoutSeconds: Int

    /// Sessions live at most this long, however active.
    static let absoluteLifetimeSeconds = 7 * 24 * 3600

    private func key(_ id: String) -> String {
        prefix + "session:" + Self.digest(id)
    }

    private func userKey(_ userID: String) -> String {
        prefix + "user-sessions:" + userID
    }

    static func digest(_ id: String) -> String {
        Hex.string(SHA256.hash(data: Data(id.utf8)))
    }

    static func newID() -> String {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        return bytes.base64URLEncodedString()
    }

    /// Starts a session; the caller sets the cookie.
    public func create(
        userID: String, accountID: AccountID, userName: String, email: String, accountName: String, timeZone: String = "UTC",
        role: Role = .owner, isOperator: Bool = false
    ) async throws -> Session {
        var session = Session(
            userID: userID, accountID: accountID, userName: userName, email: email, accountName: accountName,
            createdAt: Int(Date().timeIntervalSince1970), timeZone: timeZone, storedRole: role, storedOperator: isOperator ? true : nil
        )
        session.id = Self.newID()
        let payload = String(decoding: try JSONEncoder().encode(session), as: UTF8.self)
        try await redis.set(key(session.id), to: payload, expiresInMilliseconds: idleTimeoutSeconds * 1000)
        try await redis.send(["SADD", userKey(userID), Self.digest(session.id)])
        try await redis.expire(userKey(userID), seconds: Self.absoluteLifetimeSeconds)
        return session
    }

    /// A session for a person in the business the row names (every sign-in, switch and join makes
    /// its session here, so none forgets a field such as the operator flag).
    public func create(for user: AccountStore.User) async throws -> Session {
        try await create(
            userID: user.id, accountID: user.accountID, userName: user.name, email: user.email, accountName: user.accountName,
            timeZone: user.timeZone, role: user.role, isOperator: user.isOperator)
    }

    /// The session for a cookie value, renewing its idle timeout; nil when unknown or expired.
    public func load(_ id: String) async throws -> Session? {
        guard id.count >= 40, id.count <= 64 else { return nil }
        guard let payload = try await redis.send(["GETEX", key(id), "EX", String(idleTimeoutSeconds)]).string,
            var session = Self.decode(payload)
        else { return nil }
        if Int(Date().timeIntervalSince1970) - session.createdAt > Self.absoluteLifetimeSeconds {
            try await self.destroy(session)
            return nil
        }
        session.id = id
        return session
    }

    /// The session a payload from Redis holds. The same bytes always decode to the same session,
    /// so the last few thousand are kept decoded: a signed-in page reads Redis on every request
    /// (so an ended session ends at once), and a JSONDecoder per page was 2% of a history page's CPU.
    static func decode(_ payload: String) -> Session? {
        if let known = decoded.withLock({ $0[payload] }) { return known }
        guard let session = try? JSONDecoder().decode(Session.self, from: Data(payload.utf8)) else { return nil }
        decoded.withLock { cache in
            if cache.count >= 4096 { cache.removeAll(keepingCapacity: true) }
            cache[payload] = session
        }
        return session
    }

    private static let decoded = Mutex<[String: Session]>([:])

    public func destroy(_ session: Session) async throws {
        try await redis.delete([key(session.id)])
        try await redis.send(["SREM", userKey(session.userID), Self.digest(session.id)])
    }

    /// Ends a person's sessions in one business (after their role there changed or they left it);
    /// their sessions in other businesses go on.
    public func destroyAll(userID: String, in accountID: AccountID) async throws {
        let members = try await redis.send(["SMEMBERS", userKey(userID)]).array ?? []
        var doomed: [String] = []
        for digest in members.compactMap(\.string) {
            guard let payload = try await redis.send(["GET", prefix + "session:" + digest]).string else {
                doomed.append(digest)
                continue
            }
            if let session = try? JSONDecoder().decode(Session.self, from: Data(payload.utf8)), session.accountID != accountID { continue }
            doomed.append(digest)
        }
        guard !doomed.isEmpty else { return }
        try await redis.delete(doomed.map { prefix + "session:" + $0 })
        try await redis.send(["SREM", userKey(userID)] + doomed)
    }

    /// Ends every session of a user but the one given (after a password change).
    public func destroyAll(userID: String, except keep: Session?) async throws {
        let members = try await redis.send(["SMEMBERS", userKey(userID)]).array ?? []
        let keepDigest = keep.map { Self.digest($0.id) }
        let doomed = members.compactMap(\.string).filter { $0 != keepDigest }
        guard !doomed.isEmpty else { return }
        try await redis.delete(doomed.map { prefix + "session:" + $0 })
        try await redis.send(["SREM", userKey(userID)] + doomed)
    }
}

extension Data {
    /// Base64url without padding (RFC 4648 §5).
    func base64URLEncodedString() -> String { Base64URL.string(self) }
}
