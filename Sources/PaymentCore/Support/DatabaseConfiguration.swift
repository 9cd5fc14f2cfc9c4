import Foundation

/// Where PostgreSQL is: host, port, role, database and pool size, read from a `postgres://` URL.
public struct DatabaseConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var maximumConnections: Int

    public init(host: String, port: Int, username: String, password: String?, database: String, maximumConnections: Int) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.maximumConnections = maximumConnections
    }

    /// Parses `postgres://user[:password]@host[:port]/database`.
    public init?(url: String, maximumConnections: Int) {
        guard let components = URLComponents(string: url),
            components.scheme == "postgres" || components.scheme == "postgresql",
            let host = components.host, !host.isEmpty,
            let user = components.user, !user.isEmpty
        else { return nil }
        let name = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        guard !name.isEmpty, !name.contains("/") else { return nil }
        if let port = components.port, !(1...65535).contains(port) { return nil }
        self.init(
            host: host,
            port: components.port ?? 5432,
            username: user.removingPercentEncoding ?? user,
            password: components.password?.removingPercentEncoding,
            database: name,
            maximumConnections: maximumConnections
        )
    }
}
