import App
import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix

/// The `kassa` command: parses arguments and hands over to `App`.
@main
struct Kassa: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Kassa, a self-hosted merchant payment portal.",
        discussion: "Configuration comes from the environment:\n"
            + AppConfiguration.settings.map { "  \($0.name): \($0.description)" }.joined(separator: "\n"),
        subcommands: [
            Serve.self, Migrate.self, SeedDemo.self, ResetPassword.self, AuditCommand.self, OperatorCommand.self, Hello.self, RenderBenchCommand.self,
        ],
        defaultSubcommand: Serve.self
    )
}

/// Reads the configuration or stops with one line naming what is wrong.
func loadConfiguration(logTo stream: LogfmtLogHandler.Stream = .standardOutput) -> (AppConfiguration, Logger) {
    do {
        let configuration = try AppConfiguration.fromEnvironment()
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in LogfmtLogHandler(label: label, level: level, stream: stream) }
        return (configuration, Logger(label: "kassa"))
    } catch {
        FileHandle.standardError.write(Data("kassa: \(error)\n".utf8))
        Foundation.exit(78)  // EX_CONFIG
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the portal, the checkout and the API.")

    @Flag(help: "Apply pending migrations before serving.")
    var migrate = false

    @Option(help: "Folder of the numbered SQL migrations.")
    var migrations = "Migrations"

    func run() async throws {
        let (configuration, logger) = loadConfiguration()
        // Before any task of the server exists: from here on Swift concurrency runs on NIO's event
        // loops, so a request's handler, PostgresNIO and the batches stop handing work between two
        // thread pools (see BENCHMARKS.md).
        if configuration.nioExecutor, !NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor() {
            logger.warning("could not run Swift concurrency on NIO's event loops; using its own pool")
        }
        if migrate {
            try await DatabaseTools.migrate(configuration.database, directory: migrations, logger: logger)
        }
        let readiness = Readiness()
        let app = try await buildApplication(configuration: configuration, logger: logger, readiness: readiness)
        logger.info("listening", metadata: ["url": .string(configuration.baseURL)])
        let drainer = Drainer(readiness: readiness, seconds: configuration.drainSeconds, logger: logger)
        try await Drainer.serviceGroup(app: app, drainer: drainer, logger: logger).run()
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Apply pending database migrations and exit.")

    @Option(help: "Folder of the numbered SQL migrations.")
    var migrations = "Migrations"

    func run() async throws {
        let (configuration, logger) = loadConfiguration()
        do {
            let applied = try await DatabaseTools.migrate(configuration.database, directory: migrations, logger: logger)
            print(applied.isEmpty ? "migrations: up to date" : "migrations: applied \(applied.joined(separator: ", "))")
        } catch {
            FileHandle.standardError.write(Data("kassa: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}

struct SeedDemo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "seed-demo", abstract: "Load the demo merchant and its data.")

    @Option(help: "The demo merchant's password (default: KASSA_DEMO_PASSWORD, else a random one, printed).")
    var password: String?

    func run() async throws {
        let (configuration, logger) = loadConfiguration()
        guard !configuration.isSecure else {
            FileHandle.standardError.write(
                Data("kassa: the demo merchant is for development; this server's base URL (\(configuration.baseURL)) is https\n".utf8))
            throw ExitCode.failure
        }
        let chosen = password ?? ProcessInfo.processInfo.environment["KASSA_DEMO_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
        let secret = chosen ?? DemoSeeder.randomPassword()
        let created = try await DatabaseTools.withClient(configuration.database, logger: logger) { client in
            try await DemoSeeder.seed(database: client, secretKey: configuration.secretKey, password: secret, logger: logger)
        }
        print("demo merchant \(created ? "created" : "already there"): \(DemoSeeder.email) / \(secret)")
    }
}

struct ResetPassword: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reset-password",
        abstract: "Print a link that lets a person choose a new password, once, within 30 minutes (for a Kassa that sends no email)."
    )

    @Option(help: "The email the person signs in with.")
    var email: String

    func run() async throws {
        // Standard output is the link alone, for a script to pass on.
        let (configuration, logger) = loadConfiguration(logTo: .standardError)
        let issued = try await DatabaseTools.withClient(configuration.database, logger: logger) { client in
            try await PasswordResets(database: client, logger: logger).issue(email: email)
        }
        guard let issued else {
            FileHandle.standardError.write(Data("kassa: nobody signs in with \(email)\n".utf8))
            throw ExitCode.failure
        }
        print(PasswordResets.link(baseURL: configuration.baseURL, token: issued.token))
        FileHandle.standardError.write(
            Data("kassa: a link for \(issued.user.name) (\(issued.user.email)); it works once, within 30 minutes\n".utf8))
    }
}

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check the ledger against the transaction log and the payments; prints JSON, exits 1 when anything is off."
    )

    func run() async throws {
        // Standard output is the report alone: a warning printed there once broke the drills' parse.
        let (configuration, logger) = loadConfiguration(logTo: .standardError)
        let report = try await DatabaseTools.withClient(configuration.database, logger: logger) { client in
            try await Audit.run(database: client, logger: logger)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        print(String(decoding: try encoder.encode(report), as: UTF8.self))
        if !report.holds { throw ExitCode.failure }
    }
}

/// The benchmark's ceiling for page renders: a bare Hummingbird route, same build, same flags.
struct OperatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operator", abstract: "Platform operators, who run /ops.", subcommands: [CreateOperator.self])
}

struct CreateOperator: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a platform operator and print their password, once; they turn on two-factor sign-in at their first sign-in."
    )

    @Option(help: "The email the operator signs in with.")
    var email: String

    @Option(help: "Their name (default: the email's local part).")
    var name: String?

    func run() async throws {
        let (configuration, logger) = loadConfiguration(logTo: .standardError)
        do {
            let password = try await DatabaseTools.withClient(configuration.database, logger: logger) { client in
                try await Operators.create(database: client, email: email, name: name, logger: logger)
            }
            print("operator created: \(email) / \(password)")
            FileHandle.standardError.write(
                Data("kassa: sign in at \(configuration.baseURL)/login; the console asks for two-factor sign-in first\n".utf8))
        } catch let refused as Operators.CreateError {
            FileHandle.standardError.write(Data("kassa: \(refused)\n".utf8))
            throw ExitCode.failure
        }
    }
}

struct Hello: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve only GET /hello (for make bench).", shouldDisplay: false)

    @Option(help: "Port to listen on.")
    var port = 18181

    func run() async throws {
        try await App.helloServer(port: port)
    }
}

struct RenderBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render-bench", abstract: "Time the history page's rendering alone (for renderer changes).", shouldDisplay: false)

    @Option(help: "Renders to time.")
    var iterations = 20_000

    @Option(help: "The templates' folder.")
    var templates = "Templates"

    func run() async throws {
        let (microseconds, bytes) = try await App.renderBench(templates: templates, iterations: iterations)
        print(String(format: "render-bench: %.1f µs of CPU per history page (%d bytes, %d renders)", microseconds, bytes, iterations))
    }
}
