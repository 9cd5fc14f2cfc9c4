import Foundation
import Synchronization

/// W3C Trace Context (`traceparent`) and the spans Kassa records, without a tracing framework: a
/// task-local scope holds the current trace and span and where finished spans go. With no sink
/// (no `KASSA_OTLP_ENDPOINT`) a span costs a task-local read; log lines still carry the trace id.
public struct TraceContext: Sendable, Equatable {
    /// 16 bytes and 8 bytes, as lowercase hex (W3C's `traceparent` fields).
    public let traceID: String
    public let spanID: String
    public let sampled: Bool

    public init(traceID: String, spanID: String, sampled: Bool = true) {
        self.traceID = traceID
        self.spanID = spanID
        self.sampled = sampled
    }

    /// `00-<trace-id>-<parent-id>-<flags>`; nil when malformed or all zeros (W3C: start a new trace).
    public init?(traceparent: String) {
        let parts = traceparent.trimmingCharacters(in: .whitespaces).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].count == 2, parts[0] != "ff", parts[1].count == 32, parts[2].count == 16, parts[3].count == 2,
            parts[0...3].allSatisfy({ $0.utf8.allSatisfy(Self.isLowerHex) }),
            parts[1].contains(where: { $0 != "0" }), parts[2].contains(where: { $0 != "0" }),
            let flags = UInt8(parts[3], radix: 16)
        else { return nil }
        // Version 00 has exactly four fields; a later version may add more.
        if parts[0] == "00", parts.count != 4 { return nil }
        self.init(traceID: String(parts[1]), spanID: String(parts[2]), sampled: flags & 1 == 1)
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) }

    public var traceparent: String { "00-\(traceID)-\(spanID)-\(sampled ? "01" : "00")" }

    /// A new trace.
    public static func root() -> TraceContext {
        TraceContext(traceID: Self.hex(bytes: 16), spanID: Self.hex(bytes: 8))
    }

    /// A new span in this trace.
    public func child() -> TraceContext {
        TraceContext(traceID: traceID, spanID: Self.hex(bytes: 8), sampled: sampled)
    }

    static func hex(bytes count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        var text = ""
        text.reserveCapacity(count * 2)
        repeat {
            text = ""
            for _ in 0..<(count / 8) {
                let value: UInt64 = generator.next()
                let digits = String(value, radix: 16)
                text += String(repeating: "0", count: 16 - digits.count) + digits
            }
        } while text.allSatisfy { $0 == "0" }
        return text
    }
}

/// A finished span, ready for an exporter.
public struct FinishedSpan: Sendable {
    public enum Kind: Int, Sendable {
        case `internal` = 1, server = 2, client = 3
    }

    public let context: TraceContext
    public let parentSpanID: String?
    public let name: String
    public let kind: Kind
    /// Nanoseconds since 1970.
    public let start: UInt64
    public let end: UInt64
    public let attributes: [(String, String)]
    public let error: String?

    public init(
        context: TraceContext, parentSpanID: String?, name: String, kind: Kind, start: UInt64, end: UInt64, attributes: [(String, String)],
        error: String?
    ) {
        self.context = context
        self.parentSpanID = parentSpanID
        self.name = name
        self.kind = kind
        self.start = start
        self.end = end
        self.attributes = attributes
        self.error = error
    }
}

/// Where finished spans go (the OTLP exporter).
public protocol SpanSink: Sendable {
    func export(_ span: FinishedSpan)
}

/// Attributes a span's body learns as it runs.
public final class SpanAttributes: Sendable {
    private let values = Mutex<[(String, String)]>([])

    public init() {}

    public func set(_ key: String, _ value: String) {
        values.withLock { $0.append((key, value)) }
    }

    var all: [(String, String)] { values.withLock { $0 } }
}

public enum Trace {
    public struct Scope: Sendable {
        public let context: TraceContext
        public let sink: (any SpanSink)?

        public init(context: TraceContext, sink: (any SpanSink)?) {
            self.context = context
            self.sink = sink
        }
    }

    /// The request's (or worker's) trace and current span.
    @TaskLocal public static var current: Scope?

    public static func now() -> UInt64 {
        UInt64(Date().timeIntervalSince1970 * 1_000_000_000)
    }

    /// Runs `body` as a child span of the current one, exported when it ends (also when it throws).
    public static func span<T>(
        _ name: String, kind: FinishedSpan.Kind = .internal, attributes: [(String, String)] = [],
        _ body: (SpanAttributes) async throws -> T
    ) async rethrows -> T {
        let extra = SpanAttributes()
        guard let scope = current, let sink = scope.sink, scope.context.sampled else { return try await body(extra) }
        let context = scope.context.child()
        let start = now()
        do {
            let value = try await $current.withValue(Scope(context: context, sink: sink)) { try await body(extra) }
            sink.export(
                FinishedSpan(
                    context: context, parentSpanID: scope.context.spanID, name: name, kind: kind, start: start, end: now(),
                    attributes: attributes + extra.all, error: nil))
            return value
        } catch {
            sink.export(
                FinishedSpan(
                    context: context, parentSpanID: scope.context.spanID, name: name, kind: kind, start: start, end: now(),
                    attributes: attributes + extra.all, error: String(describing: type(of: error))))
            throw error
        }
    }
}
