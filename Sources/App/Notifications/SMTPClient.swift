import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// Where to send mail, and how safely:
/// - `smtp://[user:password@]host[:port]` (port 25): STARTTLS when the server offers it; a
///   password is only ever sent inside TLS, so a server that offers no STARTTLS gets no AUTH
///   and the mail is not sent;
/// - `smtps://…` (port 465): TLS from the first byte (implicit TLS);
/// - `smtp+insecure://…`: plain text, AUTH included, for a relay on a network you trust.
public struct SMTPConfiguration: Sendable, Equatable {
    public enum Security: String, Sendable, Equatable {
        case startTLS, implicitTLS, insecure
    }

    public var host: String
    public var port: Int
    public var username: String?
    public var password: String?
    public var from: String
    public var security: Security

    public init?(url: String, from: String) {
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else { return nil }
        switch components.scheme?.lowercased() {
        case "smtp": security = .startTLS
        case "smtps": security = .implicitTLS
        case "smtp+insecure": security = .insecure
        default: return nil
        }
        self.host = host
        self.port = components.port ?? (security == .implicitTLS ? 465 : 25)
        self.username = components.user?.removingPercentEncoding
        self.password = components.password?.removingPercentEncoding
        self.from = from
    }
}

/// A small SMTP client over SwiftNIO: EHLO, STARTTLS when offered, AUTH PLAIN, MAIL/RCPT/DATA with
/// dot-stuffing. Written here because no SMTP client is among the machine's packages.
struct SMTPClient: Sendable {
    let configuration: SMTPConfiguration

    struct Message: Sendable {
        let to: String
        let subject: String
        let text: String
        let html: String
    }

    enum SMTPError: Error, CustomStringConvertible {
        case unexpected(command: String, reply: String)
        case closed
        case tlsRequired

        var description: String {
            switch self {
            case .unexpected(let command, let reply): "SMTP \(command) refused: \(reply)"
            case .closed: "SMTP connection closed"
            case .tlsRequired:
                "the SMTP server offers no STARTTLS, and Kassa sends a password only inside TLS (smtps:// for implicit TLS, smtp+insecure:// to allow it in clear)"
            }
        }
    }

    /// Splits the byte stream at LF.
    struct LineDecoder: ByteToMessageDecoder {
        typealias InboundOut = ByteBuffer

        mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
            guard let index = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else { return .needMoreData }
            let length = index - buffer.readerIndex + 1
            context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: length)!))
            return .continue
        }
    }

    /// Lines from the server, as an async stream.
    final class LineHandler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let continuation: AsyncStream<String>.Continuation

        init(continuation: AsyncStream<String>.Continuation) {
            self.continuation = continuation
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            if let line = buffer.readString(length: buffer.readableBytes) {
                continuation.yield(line.trimmingCharacters(in: CharacterSet(charactersIn: "\r\n")))
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            continuation.finish()
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            continuation.finish()
            context.close(promise: nil)
        }
    }

    func send(_ message: Message) async throws {
        let (lines, continuation) = AsyncStream<String>.makeStream()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .channelInitializer { [configuration] channel in
                channel.eventLoop.makeCompletedFuture {
                    if configuration.security == .implicitTLS {
                        let context = try NIOSSLContext(configuration: .makeClientConfiguration())
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: configuration.host))
                    }
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineDecoder()))
                    try channel.pipeline.syncOperations.addHandler(LineHandler(continuation: continuation))
                }
            }
            .connect(host: configuration.host, port: configuration.port)
            .get()
        var iterator = lines.makeAsyncIterator()
        do {
            try await converse(channel: channel, lines: &iterator, message: message)
            try? await channel.close()
        } catch {
            try? await channel.close()
            throw error
        }
    }

    /// One reply, possibly multi-line (`250-…` continues, `250 …` ends); returns code and lines.
    private func reply(_ lines: inout AsyncStream<String>.Iterator) async throws -> (Int, [String]) {
        var collected: [String] = []
        while let line = await lines.next() {
            collected.append(line)
            let chars = Array(line)
            if chars.count < 4 || chars[3] != "-" {
                return (Int(String(line.prefix(3))) ?? 0, collected)
            }
        }
        throw SMTPError.closed
    }

    private func command(
        _ text: String, on channel: any Channel, lines: inout AsyncStream<String>.Iterator, expect: Set<Int>, name: String? = nil
    ) async throws -> [String] {
        try await channel.writeAndFlush(ByteBuffer(string: text + "\r\n"))
        let (code, reply) = try await reply(&lines)
        guard expect.contains(code) else { throw SMTPError.unexpected(command: name ?? String(text.prefix(4)), reply: reply.joined(separator: " ")) }
        return reply
    }

    private func converse(channel: any Channel, lines: inout AsyncStream<String>.Iterator, message: Message) async throws {
        let (greeting, greetingText) = try await reply(&lines)
        guard greeting == 220 else { throw SMTPError.unexpected(command: "greeting", reply: greetingText.joined()) }
        var capabilities = try await command("EHLO kassa.local", on: channel, lines: &lines, expect: [250])
        var secured = configuration.security == .implicitTLS
        if !secured && configuration.security != .insecure && capabilities.contains(where: { $0.uppercased().contains("STARTTLS") }) {
            _ = try await command("STARTTLS", on: channel, lines: &lines, expect: [220])
            let context = try NIOSSLContext(configuration: .makeClientConfiguration())
            let tls = try NIOSSLClientHandler(context: context, serverHostname: configuration.host)
            try await channel.pipeline.addHandler(tls, position: .first).get()
            capabilities = try await command("EHLO kassa.local", on: channel, lines: &lines, expect: [250])
            secured = true
        }
        if let username = configuration.username, let password = configuration.password {
            guard secured || configuration.security == .insecure else { throw SMTPError.tlsRequired }
            let token = Data("\u{0}\(username)\u{0}\(password)".utf8).base64EncodedString()
            _ = try await command("AUTH PLAIN \(token)", on: channel, lines: &lines, expect: [235], name: "AUTH")
        }
        _ = try await command("MAIL FROM:<\(Self.address(configuration.from))>", on: channel, lines: &lines, expect: [250])
        _ = try await command("RCPT TO:<\(message.to)>", on: channel, lines: &lines, expect: [250, 251])
        _ = try await command("DATA", on: channel, lines: &lines, expect: [354])
        _ = try await command(Self.body(message, from: configuration.from) + "\r\n.", on: channel, lines: &lines, expect: [250], name: "DATA end")
        _ = try? await command("QUIT", on: channel, lines: &lines, expect: [221])
    }

    /// The bare address of `Name <address>`.
    static func address(_ from: String) -> String {
        if let open = from.firstIndex(of: "<"), let close = from.lastIndex(of: ">"), open < close {
            return String(from[from.index(after: open)..<close])
        }
        return from
    }

    /// A multipart/alternative message, CRLF line ends, lines starting with "." doubled.
    static func body(_ message: Message, from: String) -> String {
        let boundary = "kassa-" + UUID().uuidString
        let date = Formats.rfc2822(Date())
        let subject = message.subject.allSatisfy(\.isASCII) ? message.subject : "=?UTF-8?B?\(Data(message.subject.utf8).base64EncodedString())?="
        var lines = [
            "From: \(from)", "To: <\(message.to)>", "Subject: \(subject)", "Date: \(date)", "Message-ID: <\(UUID().uuidString)@kassa>",
            "MIME-Version: 1.0", "Content-Type: multipart/alternative; boundary=\"\(boundary)\"", "",
            "--\(boundary)", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit", "",
        ]
        lines += message.text.components(separatedBy: .newlines)
        lines += ["", "--\(boundary)", "Content-Type: text/html; charset=utf-8", "Content-Transfer-Encoding: 8bit", ""]
        lines += message.html.components(separatedBy: .newlines)
        lines += ["", "--\(boundary)--"]
        return lines.map { $0.hasPrefix(".") ? "." + $0 : $0 }.joined(separator: "\r\n")
    }
}

extension Formats {
    static func rfc2822(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: date)
    }
}
