import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import PaymentCore
import ServiceLifecycle
import Synchronization

/// Sends finished spans to an OpenTelemetry collector over OTLP/HTTP (protobuf,
/// `POST {KASSA_OTLP_ENDPOINT}/v1/traces`), in batches: every half second, or at once when 512
/// wait. A span that cannot be sent is dropped (and counted in the log), never retried for ever:
/// tracing must not hold up payments. The protobuf is written by hand (`OTLPEncoding`): five
/// message types, so the server does not build swift-otel and swift-protobuf for them.
final class OTLPExporter: SpanSink, Service {
    let endpoint: String
    let logger: Logger
    let serviceName: String
    private let pending = Mutex<[FinishedSpan]>([])
    static let batchLimit = 512
    static let bufferLimit = 8192

    init(endpoint: String, serviceName: String = "kassa", logger: Logger) {
        self.endpoint = endpoint.hasSuffix("/v1/traces") ? endpoint : (endpoint.hasSuffix("/") ? endpoint + "v1/traces" : endpoint + "/v1/traces")
        self.serviceName = serviceName
        self.logger = logger
    }

    func export(_ span: FinishedSpan) {
        pending.withLock { spans in
            if spans.count < Self.bufferLimit { spans.append(span) }
        }
    }

    func run() async throws {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(2), read: .seconds(5))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(500))
                await self.flush(client)
            }
        }
        await flush(client)
        try? await client.shutdown()
    }

    private func flush(_ client: HTTPClient) async {
        while true {
            let batch: [FinishedSpan] = pending.withLock { spans in
                let taken = Array(spans.prefix(Self.batchLimit))
                spans.removeFirst(taken.count)
                return taken
            }
            guard !batch.isEmpty else { return }
            var request = HTTPClientRequest(url: endpoint)
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/x-protobuf")
            request.body = .bytes(ByteBuffer(bytes: OTLPEncoding.exportRequest(batch, serviceName: serviceName)))
            do {
                let response = try await client.execute(request, timeout: .seconds(5))
                _ = try? await response.body.collect(upTo: 1 << 16)
                if response.status.code >= 300 {
                    logger.warning("spans refused by the collector", metadata: ["status": "\(response.status.code)", "spans": "\(batch.count)"])
                }
            } catch {
                logger.warning("spans not sent", metadata: ["error": "\(error)", "spans": "\(batch.count)"])
                return
            }
        }
    }
}

/// OTLP's `ExportTraceServiceRequest` in protobuf's wire format (opentelemetry-proto v1).
enum OTLPEncoding {
    static func exportRequest(_ spans: [FinishedSpan], serviceName: String) -> [UInt8] {
        var resource = Writer()
        resource.message(1, keyValue("service.name", serviceName))  // Resource.attributes
        var scope = Writer()
        scope.string(1, "kassa")  // InstrumentationScope.name
        var scopeSpans = Writer()
        scopeSpans.message(1, scope.bytes)  // ScopeSpans.scope
        for span in spans { scopeSpans.message(2, encode(span)) }  // ScopeSpans.spans
        var resourceSpans = Writer()
        resourceSpans.message(1, resource.bytes)  // ResourceSpans.resource
        resourceSpans.message(2, scopeSpans.bytes)  // ResourceSpans.scope_spans
        var request = Writer()
        request.message(1, resourceSpans.bytes)  // ExportTraceServiceRequest.resource_spans
        return request.bytes
    }

    static func encode(_ span: FinishedSpan) -> [UInt8] {
        var writer = Writer()
        writer.bytes(1, hexBytes(span.context.traceID))  // trace_id
        writer.bytes(2, hexBytes(span.context.spanID))  // span_id
        if let parent = span.parentSpanID { writer.bytes(4, hexBytes(parent)) }  // parent_span_id
        writer.string(5, span.name)  // name
        writer.varint(6, UInt64(span.kind.rawValue))  // kind
        writer.fixed64(7, span.start)  // start_time_unix_nano
        writer.fixed64(8, span.end)  // end_time_unix_nano
        for (key, value) in span.attributes { writer.message(9, keyValue(key, value)) }  // attributes
        var status = Writer()
        if let error = span.error { status.string(2, error) }  // Status.message
        status.varint(3, span.error == nil ? 1 : 2)  // Status.code: OK or ERROR
        writer.message(15, status.bytes)  // status
        return writer.bytes
    }

    static func keyValue(_ key: String, _ value: String) -> [UInt8] {
        var any = Writer()
        any.string(1, value)  // AnyValue.string_value
        var pair = Writer()
        pair.string(1, key)
        pair.message(2, any.bytes)
        return pair.bytes
    }

    static func hexBytes(_ hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var iterator = hex.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            func value(_ c: UInt8) -> UInt8 { c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10 }
            bytes.append(value(high) << 4 | value(low))
        }
        return bytes
    }

    struct Writer {
        var bytes: [UInt8] = []

        mutating func tag(_ field: Int, _ wireType: UInt8) { raw(UInt64(field << 3) | UInt64(wireType)) }

        mutating func raw(_ value: UInt64) {
            var value = value
            while value >= 0x80 {
                bytes.append(UInt8(value & 0x7F) | 0x80)
                value >>= 7
            }
            bytes.append(UInt8(value))
        }

        mutating func varint(_ field: Int, _ value: UInt64) {
            tag(field, 0)
            raw(value)
        }

        mutating func fixed64(_ field: Int, _ value: UInt64) {
            tag(field, 1)
            for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8((value >> UInt64(shift)) & 0xFF)) }
        }

        mutating func bytes(_ field: Int, _ value: [UInt8]) {
            tag(field, 2)
            raw(UInt64(value.count))
            bytes.append(contentsOf: value)
        }

        mutating func string(_ field: Int, _ value: String) { bytes(field, Array(value.utf8)) }

        mutating func message(_ field: Int, _ value: [UInt8]) { bytes(field, value) }
    }
}
