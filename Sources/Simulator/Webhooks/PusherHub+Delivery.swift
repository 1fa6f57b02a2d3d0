import CurlHTTP
import Dialects
import Foundation
import HTTPTypes
import StockCore

extension PusherHub {
    /// Queues `messages` in the store (on disk before this returns), drops what a full queue
    /// pushes out, and wakes the subscribers' deliverers. Returns how many were queued (an id
    /// known already is not). A store that fails loses them; a recovery finds them again in
    /// the journal.
    func queue(_ messages: [WebhookMessage]) async -> Int {
        guard !messages.isEmpty else { return 0 }
        let outcome: (queued: [String], dropped: [WebhookMessage])
        do {
            outcome = try await state.queueWebhookMessages(messages, keep: maxQueued)
        } catch {
            logger.error(
                "webhook messages not queued: the store failed",
                metadata: ["messages": "\(messages.count)", "error": "\(String(describing: error))"])
            return 0
        }
        for message in outcome.dropped {
            noteDropped(message, reason: "more than \(maxQueued) messages queued for the subscriber")
        }
        let queued = Set(outcome.queued)
        for subscription in Set(messages.filter { queued.contains($0.messageID) }.map(\.subscription)) {
            wake(subscription)
        }
        return queued.count
    }

    /// Wakes the delivery loop of `subscription`, starting it if there is none.
    func wake(_ subscription: String) {
        let wake = loops.withLock { loops -> AsyncStream<Void>.Continuation in
            if let loop = loops[subscription] { return loop.wake }
            let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
            let task = Task { [weak self] in
                for await _ in stream {
                    guard let self, !Task.isCancelled else { return }
                    await self.drain(subscription)
                }
            }
            loops[subscription] = (continuation, task)
            return continuation
        }
        wake.yield()
    }

    func noteDropped(_ message: WebhookMessage, reason: String) {
        droppedCounts.withLock { $0[message.subscription, default: 0] += 1 }
        metrics?.recordWebhookDropped()
        logger.warning(
            "webhook dropped undelivered",
            metadata: [
                "subscription": "\(message.subscription)", "message": "\(message.messageID)", "reason": "\(reason)",
            ])
    }

    /// Sends `subscription`'s pending messages in queue order while this hub holds its lease;
    /// nothing when another deliverer holds it (it sends them) or nothing is pending.
    /// The lease is given up after, so that on a shared database another instance can go on
    /// at once.
    func drain(_ subscription: String) async {
        var holder = LeaseHolder(subscription: subscription)
        await send(pendingOf: subscription, holder: &holder)
        if holder.held { try? await state.releaseWebhookDelivery(subscription: subscription, deliverer: deliverer) }
    }

    private func send(pendingOf subscription: String, holder: inout LeaseHolder) async {
        var finished: Set<String> = []
        while !Task.isCancelled {
            // One at a time: the head of the queue is never dropped by a full queue, the others may be.
            let batch = ((try? await state.pendingWebhookMessages(subscription: subscription, limit: 1)) ?? [])
                .filter { !finished.contains($0.messageID) }
            guard !batch.isEmpty, await holder.renew(self) else { return }
            for message in batch {
                guard let outcome = await deliver(message, holder: &holder) else { return }
                finished.insert(message.messageID)
                try? await state.finishWebhookMessage(message.messageID, outcome: outcome)
            }
        }
    }

    /// Who holds a subscriber's lease, and since when (renewed at a third of its length).
    struct LeaseHolder {
        let subscription: String
        var held = false
        var since = ContinuousClock.now

        /// Takes or keeps the lease; false when another deliverer has it.
        mutating func renew(_ hub: PusherHub, force: Bool = false) async -> Bool {
            if held, !force, ContinuousClock.now - since < hub.lease / 3 { return true }
            let now = Date()
            let taken =
                (try? await hub.state.claimWebhookDelivery(
                    subscription: subscription, deliverer: hub.deliverer, until: now + hub.lease.timeInterval,
                    now: now)) ?? false
            held = taken
            since = ContinuousClock.now
            return taken
        }
    }

    /// Sends one message until its destination answers 2xx or it is given up; its outcome, or
    /// nil when the hub stopped or lost the lease before it was settled (another deliverer
    /// sends it again, under its id).
    func deliver(_ message: WebhookMessage, holder: inout LeaseHolder) async -> String? {
        var wait = retryDelay
        for attempt in 1...maxAttempts {
            // A subscription deleted meanwhile gets nothing more.
            guard let subscription = subscriptions.withLock({ $0.first { $0.uuid == message.subscription } }) else {
                return WebhookMessage.dropped
            }
            guard Date().timeIntervalSince(message.queuedAt) <= maxAge.timeInterval else {
                noteDropped(message, reason: "not delivered within \(maxAge)")
                return WebhookMessage.dropped
            }
            // Renewed right before each send, so that a live deliverer's lease outlasts the send
            // it starts: taken over mid-send, a message goes out twice (CI once saw it with a
            // 1 s lease, renewed a third of a lease earlier, under load).
            guard !Task.isCancelled, await holder.renew(self, force: true) else { return nil }
            switch await send(message, to: subscription) {
            case .delivered:
                delivered.withLock { $0[message.subscription, default: 0] += 1 }
                return WebhookMessage.delivered
            case .refused(let reason):
                noteDropped(message, reason: reason)
                return WebhookMessage.dropped
            case .failed(let status):
                logger.warning(
                    "webhook not delivered",
                    metadata: [
                        "subscription": "\(message.subscription)", "message": "\(message.messageID)",
                        "status": "\(status)", "attempt": "\(attempt)",
                    ])
            }
            guard attempt < maxAttempts else { break }
            guard await pause(wait, holder: &holder) else { return nil }
            wait = wait * 2
        }
        logger.error(
            "webhook given up",
            metadata: ["subscription": "\(message.subscription)", "message": "\(message.messageID)"])
        return WebhookMessage.givenUp
    }

    /// Waits `wait` before the next attempt, keeping the lease; false when stopped or lost.
    func pause(_ wait: Duration, holder: inout LeaseHolder) async -> Bool {
        var left = wait
        while left > .zero {
            let step = min(left, lease / 3)
            try? await Task.sleep(for: step)
            left -= step
            guard !Task.isCancelled, await holder.renew(self, force: true) else { return false }
        }
        return true
    }

    enum Sent {
        case delivered
        /// Not tried again: the address will not become allowed.
        case refused(String)
        /// The status answered, 0 when none was.
        case failed(Int)
    }

    func send(_ message: WebhookMessage, to subscription: Subscription) async -> Sent {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[ZettlePusher.signatureHeader] = message.signature
        do {
            var request = CurlRequest(
                method: .post, url: subscription.destination, headerFields: headers, body: message.body,
                timeout: .seconds(10))
            let policy = destinations
            request.permitAddress = { policy.permits($0) }
            let response = try await client.execute(request)
            return (200..<300).contains(response.status) ? .delivered : .failed(response.status)
        } catch let error as CurlError where error.code == .addressRefused {
            return .refused(error.message)
        } catch {
            return .failed(0)
        }
    }
}
