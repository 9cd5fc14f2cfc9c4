import Crypto

/// A Lua script with its SHA-1, so it can be sent by `EVALSHA`.
public struct RedisScript: Sendable {
    public let source: String
    /// SHA-1 only because Redis names scripts by it (`SCRIPT LOAD`); not used for security.
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        self.sha1 = Insecure.SHA1.hash(data: Array(source.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
