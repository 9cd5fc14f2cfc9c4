/// A reply from Redis, decoded from hiredis' reply tree.
public enum RedisValue: Sendable, Equatable {
    case string(String)
    case integer(Int64)
    case array([RedisValue])
    case status(String)
    case null

    /// The reply as text: bulk strings, status replies and integers.
    public var string: String? {
        switch self {
        case .string(let value), .status(let value): value
        case .integer(let value): String(value)
        case .array, .null: nil
        }
    }

    /// The reply as an integer: integer replies and numeric bulk strings.
    public var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .string(let value): Int64(value)
        case .status, .array, .null: nil
        }
    }

    public var array: [RedisValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    public var isNull: Bool { self == .null }
}

/// Why a Redis command did not produce a reply.
public enum RedisError: Error, Sendable, CustomStringConvertible {
    /// Could not connect, or the connection broke (Redis down or restarting).
    case connection(String)
    /// Redis answered with an error reply (`ERR`, `NOSCRIPT`, `WRONGTYPE`, …).
    case server(String)
    /// The client has been shut down.
    case shutdown

    public var description: String {
        switch self {
        case .connection(let message): "redis connection: \(message)"
        case .server(let message): "redis: \(message)"
        case .shutdown: "redis client is shut down"
        }
    }
}
