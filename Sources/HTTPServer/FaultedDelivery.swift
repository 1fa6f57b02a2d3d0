import Foundation
import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// How an answer leaves when a scheduled fault plays on the connection (`Answer.Delivery`).
enum FaultedDelivery {
    /// `truncate`: the head with the whole body's length, half the body, then the connection
    /// closes.
    static func truncate(_ head: HTTPResponse, body: [UInt8], context: ChannelHandlerContext) {
        context.write(NIOAny(ResponseOut.part(.head(head))), promise: nil)
        if body.count / 2 > 0 {
            let half = context.channel.allocator.buffer(bytes: body.prefix(body.count / 2))
            context.write(NIOAny(ResponseOut.part(.body(half))), promise: nil)
        }
        context.flush()
        context.close(promise: nil)
    }

    /// `reset`: SO_LINGER 0, so closing sends RST instead of FIN.
    static func reset(context: ChannelHandlerContext) {
        guard let provider = context.channel as? SocketOptionProvider else { return context.close(promise: nil) }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in loopBound.value.close(promise: nil) }
    }

    /// `hang`: no answer; the connection closes after `delay`, if there is one (or when the
    /// client leaves, or on shutdown).
    static func closeAfter(_ delay: Duration?, context: ChannelHandlerContext) {
        guard let delay else { return }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        _ = context.eventLoop.scheduleTask(in: TimeAmount(delay)) { loopBound.value.close(promise: nil) }
    }

    /// `dribble`: the head (with the whole body's length) now, then the body `size` bytes at a
    /// time, one piece every `interval`; `done` runs on the loop once the last piece is written
    /// (not when the client went away meanwhile).
    static func dribble(
        _ head: HTTPResponse, body: [UInt8], size: Int, interval: Duration, context: ChannelHandlerContext,
        done: @escaping () -> Void
    ) {
        context.writeAndFlush(NIOAny(ResponseOut.part(.head(head))), promise: nil)
        piece(
            from: 0, of: body, size: size, interval: interval,
            NIOLoopBound((context, done), eventLoop: context.eventLoop))
    }

    /// One piece of a `dribble`, then the next after `interval`, on the connection's loop.
    private static func piece(
        from offset: Int, of body: [UInt8], size: Int, interval: Duration,
        _ bound: NIOLoopBound<(ChannelHandlerContext, () -> Void)>
    ) {
        let (context, done) = bound.value
        guard context.channel.isActive else { return }
        guard offset < body.count else { return done() }
        let end = min(offset + size, body.count)
        context.writeAndFlush(
            NIOAny(ResponseOut.part(.body(context.channel.allocator.buffer(bytes: body[offset..<end])))),
            promise: nil)
        _ = context.eventLoop.scheduleTask(in: TimeAmount(interval)) {
            piece(from: end, of: body, size: size, interval: interval, bound)
        }
    }
}
