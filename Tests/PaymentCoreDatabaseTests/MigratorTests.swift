import Foundation
import KassaTestSupport
import PaymentCore
import PostgresNIO
import Testing

@Suite("Migrations runner")
struct MigratorTests {
    static func emptyDatabase() async throws -> String {
        let name = "kassa_m_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        try await TestServices.admin("CREATE DATABASE \(name)")
        return name
    }

    static func migration(_ version: Int, _ sql: String) -> Migrator.Migration {
        Migrator.Migration(version: version, name: String(format: "%04d_test.sql", version), sql: sql)
    }

    @Test func appliesEveryFileOnceInOrder() async throws {
        let name = try await Self.emptyDatabase()
        let migrator = try Migrator(directory: TestServices.root + "/Migrations")
        try await TestServices.withConnection(to: name) { connection in
            let first = try await migrator.migrate(on: connection, logger: TestServices.logger)
            #expect(first == migrator.migrations.map(\.name))
            #expect(first.first == "0001_accounts.sql")
            let second = try await migrator.migrate(on: connection, logger: TestServices.logger)
            #expect(second.isEmpty)
        }
    }

    @Test func editedAppliedMigrationIsRefused() async throws {
        let name = try await Self.emptyDatabase()
        try await TestServices.withConnection(to: name) { connection in
            let original = Migrator(migrations: [Self.migration(1, "CREATE TABLE t (a int)")])
            try await original.migrate(on: connection, logger: TestServices.logger)
            let edited = Migrator(migrations: [Self.migration(1, "CREATE TABLE t (a bigint)")])
            await #expect {
                try await edited.migrate(on: connection, logger: TestServices.logger)
            } throws: { error in
                "\(error)".contains("was changed after it was applied")
            }
        }
    }

    @Test func failingMigrationRollsBackWholly() async throws {
        let name = try await Self.emptyDatabase()
        try await TestServices.withConnection(to: name) { connection in
            let broken = Migrator(migrations: [
                Self.migration(1, "CREATE TABLE good (a int)"),
                Self.migration(2, "CREATE TABLE half (a int); INSERT INTO nowhere VALUES (1); CREATE TABLE after (a int);"),
            ])
            // The statements after the failing one were queued too; the error is the first failure's.
            await #expect {
                try await broken.migrate(on: connection, logger: TestServices.logger)
            } throws: { error in
                "\(error)".hasPrefix("migrations: 0002_test.sql failed: ") && "\(error)".contains(#"relation "nowhere" does not exist"#)
            }
            let tables = try await connection.query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
                logger: TestServices.logger
            )
            var names: [String] = []
            for try await table in tables.decode(String.self) { names.append(table) }
            #expect(names == ["good", "schema_migrations"])
        }
    }

    @Test func concurrentRunnersApplyEachFileOnce() async throws {
        let name = try await Self.emptyDatabase()
        let migrator = try Migrator(directory: TestServices.root + "/Migrations")
        let applied = try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<3 {
                group.addTask {
                    try await TestServices.withConnection(to: name) { connection in
                        try await migrator.migrate(on: connection, logger: TestServices.logger)
                    }
                }
            }
            var all: [String] = []
            for try await names in group { all += names }
            return all
        }
        #expect(applied.sorted() == migrator.migrations.map(\.name).sorted())
    }

    @Test func badFileNamesAreRefused() throws {
        let directory = NSTemporaryDirectory() + "kassa-migrations-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "SELECT 1".write(toFile: directory + "/init.sql", atomically: true, encoding: .utf8)
        #expect(throws: Migrator.MigrationError.self) { try Migrator(directory: directory) }
    }
}

@Suite("Splitting migration files into statements")
struct SQLStatementsTests {
    @Test func splitsOnTopLevelSemicolonsOnly() {
        let sql = """
            -- a comment; with a semicolon
            CREATE TABLE a (note text DEFAULT 'x;y', "odd;name" int);
            /* block; comment /* nested; */ still */
            INSERT INTO a (note) VALUES ('it''s; fine');
            CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;
            CREATE FUNCTION g() RETURNS int AS $body$ BEGIN RETURN 2; END; $body$ LANGUAGE plpgsql;
            SELECT $1
            """
        let statements = SQLStatements.split(sql)
        #expect(statements.count == 5)
        #expect(statements[0].hasSuffix(#"CREATE TABLE a (note text DEFAULT 'x;y', "odd;name" int)"#))
        #expect(statements[1].hasSuffix("INSERT INTO a (note) VALUES ('it''s; fine')"))
        #expect(statements[2] == "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql")
        #expect(statements[3] == "CREATE FUNCTION g() RETURNS int AS $body$ BEGIN RETURN 2; END; $body$ LANGUAGE plpgsql")
        #expect(statements[4] == "SELECT $1")
    }

    @Test func commentsAndBlanksAloneAreNoStatements() {
        #expect(SQLStatements.split("-- only a comment\n\n;;  \n").isEmpty)
    }
}
