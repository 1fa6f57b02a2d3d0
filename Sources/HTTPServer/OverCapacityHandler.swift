import NIOCore

/// The whole pipeline of a connection over the server's cap: `503 Service Unavailable` with
/// `Connection: close` and `Retry-After: 1`, written before any request is read, then the
/// write side closed; what the client sends meanwhile is read and dropped (so it gets the
/// answer, not a reset), and the connection closes when the client does or after `linger`.
public final class OverCapacityHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer

    static let body = #"{"error":"the server is at its connection limit; try again"}"#
    static let answer =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
        + "Connection: close\r\nRetry-After: 1\r\n\r\n" + body

    let linger: TimeAmount

    public init(linger: TimeAmount = .milliseconds(200)) {
        self.linger = linger
    }

    public func channelActive(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: Self.answer))).whenComplete { _ in
            loopBound.value.close(mode: .output, promise: nil)
        }
        context.eventLoop.scheduleTask(in: linger) { loopBound.value.close(promise: nil) }
        context.fireChannelActive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if (event as? ChannelEvent) == .inputClosed { context.close(promise: nil) }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
