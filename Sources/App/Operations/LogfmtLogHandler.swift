import Foundation
import Logging
import PaymentCore

/// One logfmt line per event on standard output (the server's log), or on standard error for a
/// command whose standard output is its answer (`kassa audit` prints JSON there):
/// `time=2026-11-22T18:00:00.123Z level=info msg=request request_id=… status=200`. A line written
/// while a request (or a traced worker) runs carries its `trace_id`, whichever logger wrote it.
public struct LogfmtLogHandler: LogHandler {
    public enum Stream: Sendable { case standardOutput, standardError }

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    let label: String
    let stream: Stream

    public init(label: String, level: Logger.Level, stream: Stream = .standardOutput) {
        self.label = label
        self.logLevel = level
        self.stream = stream
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = "time=\(Self.timestamp()) level=\(event.level.rawValue) msg=\(Self.quote(event.message.description))"
        var merged = self.metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        if merged["trace_id"] == nil, let trace = Trace.current { merged["trace_id"] = .string(trace.context.traceID) }
        for key in merged.keys.sorted() {
            line += " \(key)=\(Self.quote(merged[key]!.description))"
        }
        if event.level >= .error { line += " source=\(Self.quote("\(event.file):\(event.line)"))" }
        line += "\n"
        (stream == .standardOutput ? FileHandle.standardOutput : FileHandle.standardError).write(Data(line.utf8))
    }

    static func quote(_ value: String) -> String {
        if !value.isEmpty, !value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0.isNewline }) { return value }
        let escaped = value.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
        return "\"\(escaped)\""
    }

    static func timestamp() -> String {
        Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}
