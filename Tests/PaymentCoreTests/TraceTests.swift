import PaymentCore
import Synchronization
import Testing

@Suite("W3C trace context and spans")
struct TraceTests {
    @Test func traceparentIsReadAsW3CSays() {
        let good = TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        #expect(good?.traceID == "4bf92f3577b34da6a3ce929d0e0e4736" && good?.spanID == "00f067aa0ba902b7" && good?.sampled == true)
        #expect(TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")?.sampled == false)
        // A later version may add fields; version 00 may not.
        #expect(TraceContext(traceparent: "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra") != nil)
        for bad in [
            "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",
        ] {
            #expect(TraceContext(traceparent: bad) == nil, "\(bad)")
        }
        let root = TraceContext.root()
        #expect(root.traceID.count == 32 && root.spanID.count == 16)
        #expect(TraceContext(traceparent: root.traceparent) == root)
        let child = root.child()
        #expect(child.traceID == root.traceID && child.spanID != root.spanID)
    }

    final class Sink: SpanSink {
        let spans = Mutex<[FinishedSpan]>([])
        func export(_ span: FinishedSpan) { spans.withLock { $0.append(span) } }
    }

    @Test func spansNestUnderTheCurrentOneAndRecordErrors() async throws {
        struct Boom: Error {}
        let sink = Sink()
        let root = TraceContext.root()
        try await Trace.$current.withValue(Trace.Scope(context: root, sink: sink)) {
            try await Trace.span("outer") { outer in
                outer.set("k", "v")
                try? await Trace.span("inner") { _ in throw Boom() }
            }
        }
        let spans = sink.spans.withLock { $0 }
        #expect(spans.map(\.name) == ["inner", "outer"])
        #expect(spans[1].parentSpanID == root.spanID && spans[0].parentSpanID == spans[1].context.spanID)
        #expect(spans[0].error == "Boom" && spans[1].error == nil && spans[1].attributes.first! == ("k", "v"))
        #expect(spans.allSatisfy { $0.context.traceID == root.traceID && $0.end >= $0.start })
        // No scope, or no sink: the body runs and nothing is recorded.
        #expect(await Trace.span("untraced") { _ in 42 } == 42)
    }
}
