import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// HTTP/1.1 with two clocks against slow clients: a request's head must be complete within
/// `headerTimeout` of its first byte (or, on a new connection, of the connection opening), and a
/// connection with nothing to do is closed after `idleTimeout` (Hummingbird's own). Without the
/// first, a client sending one header byte every few seconds held a connection for ever; with a
/// few thousand such clients the server had no sockets left.
struct GuardedHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let responder: HTTPChannelHandler.Responder
    let headerTimeout: TimeAmount
    let idleTimeout: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let watch = HeadWatch(timeout: headerTimeout)
        do {
            try channel.pipeline.syncOperations.addHandler(FirstByteHandler(watch: watch), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        let bound = NIOLoopBound(watch, eventLoop: channel.eventLoop)
        let configuration = HTTP1Channel.Configuration(additionalChannelHandlers: [HeadHandler(watch: bound.value)], idleTimeout: idleTimeout)
        return HTTP1Channel(responder: responder, configuration: configuration).setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await HTTP1Channel(responder: responder, configuration: .init(idleTimeout: idleTimeout)).handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    static func guardedHTTP1(headerTimeout: Duration, idleTimeout: Duration) -> HTTPServerBuilder {
        .init { responder in
            GuardedHTTP1Channel(responder: responder, headerTimeout: TimeAmount(headerTimeout), idleTimeout: TimeAmount(idleTimeout))
        }
    }
}

/// One connection's head clock, touched only on its event loop.
final class HeadWatch {
    let timeout: TimeAmount
    var awaitingHead = true
    var deadline: Scheduled<Void>?

    init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    func arm(_ context: ChannelHandlerContext) {
        guard deadline == nil else { return }
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    func disarm() {
        deadline?.cancel()
        deadline = nil
    }
}

/// First in the pipeline, on raw bytes: the first byte of a request starts its head's clock.
final class FirstByteHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let watch: HeadWatch

    init(watch: HeadWatch) {
        self.watch = watch
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { watch.arm(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        watch.arm(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if watch.awaitingHead { watch.arm(context) }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        watch.disarm()
        context.fireChannelInactive()
    }
}

/// After the HTTP decoder: a complete head stops the clock; a finished response makes the
/// connection wait for the next request's first byte.
final class HeadHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart
    let watch: HeadWatch

    init(watch: HeadWatch) {
        self.watch = watch
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            watch.awaitingHead = false
            watch.disarm()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { watch.awaitingHead = true }
        context.write(data, promise: promise)
    }
}
