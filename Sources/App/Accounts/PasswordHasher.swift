internal import CArgon2
import Foundation
import NIOPosix

/// Argon2id password hashing through libargon2.
///
/// The parameters travel inside the encoded hash (`$argon2id$v=19$m=19456,t=2,p=1$…`),
/// so they can be raised later without breaking existing hashes. Hashing is slow by
/// design and runs on a thread pool, never on an event loop.
public struct PasswordHasher: Sendable {
    public var memoryKiB: UInt32
    public var iterations: UInt32
    public var parallelism: UInt32
    let threadPool: NIOThreadPool

    static let saltLength = 16
    static let hashLength = 32

    /// At least OWASP's argon2id floor: m=19456 KiB, t=2, p=1.
    public init(memoryKiB: UInt32 = 19456, iterations: UInt32 = 2, parallelism: UInt32 = 1, threadPool: NIOThreadPool = .singleton) {
        self.memoryKiB = memoryKiB
        self.iterations = iterations
        self.parallelism = parallelism
        self.threadPool = threadPool
    }

    public enum HashError: Error {
        case argon2(Int32)
    }

    public func hash(_ password: String) async throws -> String {
        let (m, t, p) = (memoryKiB, iterations, parallelism)
        return try await threadPool.runIfActive {
            var salt = [UInt8](repeating: 0, count: Self.saltLength)
            var generator = SystemRandomNumberGenerator()
            for index in salt.indices { salt[index] = generator.next() }
            let encodedLength = argon2_encodedlen(t, m, p, UInt32(Self.saltLength), UInt32(Self.hashLength), Argon2_id)
            var encoded = [CChar](repeating: 0, count: encodedLength)
            let bytes = Array(password.utf8)
            let status = argon2id_hash_encoded(
                t, m, p, bytes, bytes.count, salt, salt.count, Self.hashLength, &encoded, encodedLength
            )
            guard status == ARGON2_OK.rawValue else { throw HashError.argon2(status) }
            return String(decoding: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// True when the password matches; libargon2 compares the digests in constant time.
    public func verify(_ password: String, against encoded: String) async throws -> Bool {
        guard encoded.hasPrefix("$argon2id$") else { return false }
        return try await threadPool.runIfActive {
            let bytes = Array(password.utf8)
            return argon2id_verify(encoded, bytes, bytes.count) == ARGON2_OK.rawValue
        }
    }

    /// A real hash of a random password, to verify against when the email is unknown,
    /// so a failed login costs the same time whether or not the account exists.
    static let decoy = "$argon2id$v=19$m=19456,t=2,p=1$S2Fzc2FEZWNveVNhbHQ$8hG2kq5cDrZ0o0p5m6u1pQn5I2b2w5yVtNqf0F7o3nU"
}
