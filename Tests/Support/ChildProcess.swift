import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A program the tests start: `posix_spawn` with every inherited descriptor above 2 closed in
/// the child, and `waitpid` for its end.
///
/// Not Foundation's `Process`: on Linux its `run()` reads each `/proc/self/fd` entry's whole
/// 256-byte `d_name` and, when the record sits at the end of glibc's buffer before an unmapped
/// page, crashes in `memmove` (swift-corelibs-foundation PR #5472, after Swift 6.3). A test
/// process with many sockets open hits it: CI crashed there with the entry `1357` in hand. It
/// also never sees `runuser … pg_ctl start` exit (pg_ctl leaves its server running).
public final class ChildProcess: Sendable {
    /// Where the child's standard output and error go.
    public enum Output: Sendable {
        /// `/dev/null`.
        case discarded
        /// Standard output to `output`, standard error to `/dev/null`.
        case standardOutput
        /// Standard error to `output`, standard output to `/dev/null`.
        case standardError
        /// Both to `output`, interleaved as the child writes them.
        case both
    }

    public let processIdentifier: pid_t
    /// The read end of what the child writes, unless its output is discarded.
    public let output: FileHandle?
    private let status = Mutex<Int32?>(nil)
    private let waiting = Mutex(())

    /// Starts `path` with `arguments`; `environment` replaces the test process's own when given.
    public init(
        _ path: String, _ arguments: [String], environment: [String: String]? = nil, output: Output = .discarded
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var descriptors: [Int32] = [-1, -1]
        if output != .discarded {
            // Close-on-exec, so no other child started meanwhile inherits it.
            guard pipe(&descriptors) == 0 else { throw SpawnFailed(path: path, errno: errno) }
            for descriptor in descriptors { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        }
        let write = descriptors[1]
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        for (descriptor, captured) in [
            (Int32(1), output == .standardOutput || output == .both),
            (Int32(2), output == .standardError || output == .both),
        ] {
            if captured {
                posix_spawn_file_actions_adddup2(&actions, write, descriptor)
            } else {
                posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/null", O_WRONLY, 0)
            }
        }
        // Nothing else the test process holds (listening sockets, the ledger's lock) reaches the child.
        guard let closeFrom = addCloseFrom else { throw SpawnFailed(path: path, errno: ENOSYS) }
        _ = closeFrom(&actions, 3)

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let variables = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { for pointer in variables ?? [] { free(pointer) } }
        var pid = pid_t()
        let spawned =
            if let variables {
                posix_spawn(&pid, path, &actions, nil, argv, variables)
            } else {
                posix_spawn(&pid, path, &actions, nil, argv, environ)
            }
        if write >= 0 { close(write) }
        guard spawned == 0 else {
            if descriptors[0] >= 0 { close(descriptors[0]) }
            throw SpawnFailed(path: path, errno: spawned)
        }
        processIdentifier = pid
        self.output = descriptors[0] >= 0 ? FileHandle(fileDescriptor: descriptors[0], closeOnDealloc: true) : nil
    }

    /// Runs `path` to its end with its output discarded; its exit status.
    public static func run(_ path: String, _ arguments: [String]) async throws -> Int32 {
        let child = try ChildProcess(path, arguments)
        return await child.exit()
    }

    /// Sends `signal` unless the child has already been waited for.
    public func send(_ signal: Int32) {
        status.withLock { status in
            if status == nil { _ = kill(processIdentifier, signal) }
        }
    }

    public func terminate() { send(SIGTERM) }

    /// Blocks until the child has ended; its exit code, or 128 + the signal that ended it.
    @discardableResult
    public func waitUntilExit() -> Int32 {
        waiting.withLock { _ in
            if let known = status.withLock({ $0 }) { return known }
            var raw: Int32 = 0
            while waitpid(processIdentifier, &raw, 0) < 0 && errno == EINTR {}
            let code = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
            status.withLock { $0 = code }
            return code
        }
    }

    /// Waits for the child's end on a thread of its own (the cooperative pool stays free).
    @discardableResult
    public func exit() async -> Int32 {
        await offPool { self.waitUntilExit() }
    }

    /// The exit status; only after the child was waited for.
    public var terminationStatus: Int32 {
        guard let known = status.withLock({ $0 }) else { preconditionFailure("the child was not waited for") }
        return known
    }

    /// Everything the child writes until it closes its output (at its end, normally).
    public func readOutputToEnd() async -> String {
        guard let output else { return "" }
        let data = await offPool { output.readDataToEndOfFile() }
        return String(decoding: data, as: UTF8.self)
    }
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), which Swift's Glibc
/// module does not declare (it needs `_GNU_SOURCE`).
private let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
        return nil
    }
    return unsafeBitCast(
        symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
}()

public struct SpawnFailed: Error, CustomStringConvertible {
    public let path: String
    public let errno: Int32
    public var description: String { "cannot start \(path): \(String(cString: strerror(errno)))" }
}
