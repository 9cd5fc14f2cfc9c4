import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import App

/// A plain-text SMTP server on a free port that offers no STARTTLS and records every command.
final class PlainSMTPServer: Sendable {
    let commands = Mutex<[String]>([])

    final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let server: PlainSMTPServer
        var inData = false

        init(server: PlainSMTPServer) {
            self.server = server
        }

        func channelActive(context: ChannelHandlerContext) {
            context.writeAndFlush(NIOAny(ByteBuffer(string: "220 plain.example ESMTP\r\n")), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            let line = (buffer.readString(length: buffer.readableBytes) ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "\r\n"))
            if inData {
                if line == "." {
                    inData = false
                    reply(context, "250 queued")
                }
                return
            }
            server.commands.withLock { $0.append(line) }
            switch line.prefix(4).uppercased() {
            case "EHLO": reply(context, "250-plain.example\r\n250 AUTH PLAIN")
            case "AUTH": reply(context, "235 ok")
            case "MAIL", "RCPT": reply(context, "250 ok")
            case "DATA":
                inData = true
                reply(context, "354 go on")
            case "QUIT":
                reply(context, "221 bye")
                context.close(promise: nil)
            default: reply(context, "502 no")
            }
        }

        func reply(_ context: ChannelHandlerContext, _ text: String) {
            context.writeAndFlush(NIOAny(ByteBuffer(string: text + "\r\n")), promise: nil)
        }
    }

    func run(_ body: (Int) async throws -> Void) async throws {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPClient.LineDecoder()))
                    try channel.pipeline.syncOperations.addHandler(Handler(server: self))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        do {
            try await body(channel.localAddress!.port!)
        } catch {
            try? await channel.close()
            throw error
        }
        try? await channel.close()
    }
}

@Suite("Email over SMTP: a password only inside TLS")
struct SMTPTests {
    static let message = SMTPClient.Message(to: "ada@example.com", subject: "Hello", text: "Hi", html: "<p>Hi</p>")

    /// smtp:// with a password against a server that offers no STARTTLS: no AUTH is sent (the
    /// password would cross the network in clear), and the mail is not sent.
    @Test func aPasswordIsNeverSentInClear() async throws {
        let server = PlainSMTPServer()
        try await server.run { port in
            let configuration = try #require(SMTPConfiguration(url: "smtp://kassa:s3cret@127.0.0.1:\(port)", from: "Kassa <k@example.com>"))
            await #expect(throws: SMTPClient.SMTPError.self) { try await SMTPClient(configuration: configuration).send(Self.message) }
            let commands = server.commands.withLock { $0 }
            #expect(commands.contains { $0.hasPrefix("EHLO") })
            #expect(!commands.contains { $0.uppercased().hasPrefix("AUTH") || $0.hasPrefix("MAIL") })
        }
    }

    /// Without a password a plain relay still takes mail; smtp+insecure:// says a password in clear is wanted.
    @Test func aPlainRelayAndAnInsecureURLStillSend() async throws {
        let server = PlainSMTPServer()
        try await server.run { port in
            let relay = try #require(SMTPConfiguration(url: "smtp://127.0.0.1:\(port)", from: "Kassa <k@example.com>"))
            try await SMTPClient(configuration: relay).send(Self.message)
            let insecure = try #require(SMTPConfiguration(url: "smtp+insecure://kassa:s3cret@127.0.0.1:\(port)", from: "Kassa <k@example.com>"))
            try await SMTPClient(configuration: insecure).send(Self.message)
            let commands = server.commands.withLock { $0 }
            #expect(commands.filter { $0.hasPrefix("MAIL FROM:<k@example.com>") }.count == 2)
            #expect(commands.filter { $0.hasPrefix("AUTH PLAIN") }.count == 1)
        }
    }

    @Test(arguments: [
        ("smtp://mail.example", SMTPConfiguration.Security.startTLS, 25), ("smtps://mail.example", .implicitTLS, 465),
        ("SMTPS://mail.example:2465", .implicitTLS, 2465), ("smtp+insecure://relay.internal", .insecure, 25),
    ])
    func urlsSayHowMailIsProtected(url: String, security: SMTPConfiguration.Security, port: Int) throws {
        let configuration = try #require(SMTPConfiguration(url: url, from: "x@example.com"))
        #expect(configuration.security == security)
        #expect(configuration.port == port)
    }

    @Test func otherSchemesAreRefused() {
        #expect(SMTPConfiguration(url: "http://mail.example", from: "x@example.com") == nil)
        #expect(SMTPConfiguration(url: "smtp+tls://mail.example", from: "x@example.com") == nil)
    }
}
