import Foundation

/// Where Redis listens and how the pool behaves.
public struct RedisConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var password: String?
    public var database: Int
    /// Most connections open at once; callers beyond it wait for one to come back.
    public var maximumConnections: Int
    public var connectTimeoutMilliseconds: Int
    public var commandTimeoutMilliseconds: Int
    /// With Sentinels, the master is whichever they name for `masterName` (`host` and `port` are
    /// then not used): asked at the first connection and again after a connection breaks or a
    /// write meets `-READONLY` (a failover happened).
    public var sentinels: [Endpoint] = []
    public var masterName: String = "kassa"

    public struct Endpoint: Sendable, Equatable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// `host:port`; nil when it is not one.
        public init?(_ text: Substring) {
            guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port),
                colon > text.startIndex
            else { return nil }
            self.init(host: String(text[..<colon]), port: port)
        }

        public var description: String { "\(host):\(port)" }
    }

    public init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        password: String? = nil,
        database: Int = 0,
        maximumConnections: Int = 16,
        connectTimeoutMilliseconds: Int = 1000,
        commandTimeoutMilliseconds: Int = 2000
    ) {
        self.host = host
        self.port = port
        self.password = password
        self.database = database
        self.maximumConnections = maximumConnections
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
        self.commandTimeoutMilliseconds = commandTimeoutMilliseconds
    }

    /// Parses `redis://[:password@]host[:port][/db]`; nil when it is not such a URL.
    public init?(url: String) {
        guard let components = URLComponents(string: url), components.scheme == "redis",
            let host = components.host, !host.isEmpty
        else { return nil }
        var database = 0
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        if !path.isEmpty {
            guard let db = Int(path), db >= 0 else { return nil }
            database = db
        }
        if let port = components.port, !(1...65535).contains(port) { return nil }
        self.init(
            host: host,
            port: components.port ?? 6379,
            password: components.password.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding },
            database: database
        )
    }
}
