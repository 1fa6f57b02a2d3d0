/// The queue behind a group commit, the same in every store: writes that arrive while a
/// group is being committed wait and form the next group, so many callers share one commit.
/// Nobody waits on a timer: the first write of an idle store goes at once, alone.
public struct WriteQueue<Job> {
    public private(set) var waiting: [Job] = []
    public private(set) var draining = false

    public init() {}

    /// Queues a job; true when the caller must start the drain task.
    public mutating func enqueue(_ job: Job) -> Bool {
        waiting.append(job)
        if draining { return false }
        draining = true
        return true
    }

    /// The next group (at most `limit` jobs); empty, and draining over, when nothing waits.
    public mutating func nextGroup(limit: Int) -> [Job] {
        if waiting.isEmpty {
            draining = false
            return []
        }
        if waiting.count <= limit {
            defer { waiting.removeAll(keepingCapacity: true) }
            return waiting
        }
        let group = Array(waiting.prefix(limit))
        waiting.removeFirst(limit)
        return group
    }
}
