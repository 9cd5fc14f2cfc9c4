import Crypto
import Foundation
import Logging
import PostgresNIO

/// Applies the numbered SQL files of `Migrations/` in order.
///
/// Each file runs in its own transaction, all of them under one advisory lock so
/// two processes starting together never apply the same file twice. Applied files
/// are recorded with a SHA-256 checksum; an applied file whose text has changed is
/// refused, because a payment ledger's schema is only ever moved forward.
public struct Migrator: Sendable {
    public struct Migration: Sendable, Equatable {
        public var version: Int
        public var name: String
        public var sql: String
        public var checksum: String

        public init(version: Int, name: String, sql: String) {
            self.version = version
            self.name = name
            self.sql = sql
            self.checksum = Hex.string(SHA256.hash(data: Data(sql.utf8)))
        }
    }

    public enum MigrationError: Error, CustomStringConvertible {
        case unreadableDirectory(String)
        case badFileName(String)
        case duplicateVersion(Int)
        case editedAfterApply(version: Int, name: String)
        case unknownApplied(version: Int, name: String)
        case failed(name: String, message: String)

        public var description: String {
            switch self {
            case .unreadableDirectory(let path): "migrations: cannot read \(path)"
            case .badFileName(let name): "migrations: \(name) is not named like 0001_description.sql"
            case .duplicateVersion(let version): "migrations: two files carry number \(version)"
            case .editedAfterApply(let version, let name):
                "migrations: \(name) (version \(version)) was changed after it was applied; add a new migration instead of editing an applied one"
            case .unknownApplied(let version, let name):
                "migrations: the database has version \(version) (\(name)) that Migrations/ does not have; is this an older checkout?"
            case .failed(let name, let message): "migrations: \(name) failed: \(message)"
            }
        }
    }

    /// Arbitrary but fixed: every Kassa process takes this lock to migrate.
    static let advisoryLockKey: Int64 = 0x4B61_7373_6130_0001

    public let migrations: [Migration]

    public init(migrations: [Migration]) {
        self.migrations = migrations
    }

    /// Reads `NNNN_name.sql` files from a directory.
    public init(directory: String) throws {
        let fileManager = FileManager.default
        guard let names = try? fileManager.contentsOfDirectory(atPath: directory) else {
            throw MigrationError.unreadableDirectory(directory)
        }
        var migrations: [Migration] = []
        for name in names.sorted() where name.hasSuffix(".sql") {
            let digits = name.prefix { $0.isNumber }
            guard !digits.isEmpty, let version = Int(digits), name.dropFirst(digits.count).first == "_" else {
                throw MigrationError.badFileName(name)
            }
            guard let data = fileManager.contents(atPath: directory + "/" + name), let sql = String(data: data, encoding: .utf8) else {
                throw MigrationError.unreadableDirectory(directory + "/" + name)
            }
            migrations.append(Migration(version: version, name: name, sql: sql))
        }
        migrations.sort { $0.version < $1.version }
        for (previous, next) in zip(migrations, migrations.dropFirst()) where previous.version == next.version {
            throw MigrationError.duplicateVersion(next.version)
        }
        self.init(migrations: migrations)
    }

    /// A digest of every migration, naming a template database built from exactly these files.
    public var fingerprint: String {
        let joined = migrations.map { "\($0.version):\($0.checksum)" }.joined(separator: ",")
        return SHA256.hash(data: Data(joined.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// Applies what is missing; returns the names of the files it applied.
    @discardableResult
    public func migrate(on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        _ = try await connection.simpleQuery("SELECT pg_advisory_lock(\(Self.advisoryLockKey))").get()
        do {
            let applied = try await self.apply(on: connection, logger: logger)
            _ = try await connection.simpleQuery("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))").get()
            return applied
        } catch {
            _ = try? await connection.simpleQuery("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))").get()
            throw error
        }
    }

    private func apply(on connection: PostgresConnection, logger: Logger) async throws -> [String] {
        _ = try await connection.simpleQuery(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        ).get()
        var done: [Int: (name: String, checksum: String)] = [:]
        let rows = try await connection.query("SELECT version, name, checksum FROM schema_migrations ORDER BY version", logger: logger)
        for try await (version, name, checksum) in rows.decode((Int, String, String).self) {
            done[version] = (name, checksum)
        }
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        for (version, record) in done.sorted(by: { $0.key < $1.key }) {
            guard let migration = known[version] else { throw MigrationError.unknownApplied(version: version, name: record.name) }
            guard migration.checksum == record.checksum else {
                throw MigrationError.editedAfterApply(version: version, name: migration.name)
            }
        }
        var applied: [String] = []
        for migration in migrations where done[migration.version] == nil {
            do {
                // The whole file in one go: BEGIN, its statements, its record and COMMIT all queued at
                // once, and the connection sends each as the one before it completes. So the
                // transaction lasts as long as PostgreSQL takes, not as long as this task takes to be
                // scheduled again once per statement: an open transaction holds back every event
                // consumer in the cluster (`EventLog`), and awaited one by one in a busy process a
                // migration's held them for over thirty seconds. After a failure PostgreSQL refuses
                // the rest of the transaction and the COMMIT rolls it back; the error is the first.
                let record =
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (\(migration.version), "
                    + "'\(migration.name.replacingOccurrences(of: "'", with: "''"))', '\(migration.checksum)')"
                let sent = (["BEGIN"] + SQLStatements.split(migration.sql) + [record, "COMMIT"]).map { connection.simpleQuery($0) }
                var firstFailure: (any Error)?
                for statement in sent {
                    do { _ = try await statement.get() } catch { firstFailure = firstFailure ?? error }
                }
                if let firstFailure { throw firstFailure }
            } catch {
                _ = try? await connection.simpleQuery("ROLLBACK").get()
                let message = (error as? PSQLError)?.serverInfo?[.message] ?? "\(error)"
                throw MigrationError.failed(name: migration.name, message: message)
            }
            logger.info("migration applied", metadata: ["migration": "\(migration.name)"])
            applied.append(migration.name)
        }
        return applied
    }
}
