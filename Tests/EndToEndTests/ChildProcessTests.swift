import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// How the tests start programs (`ChildProcess`): with many descriptors open, as a test process
/// with hundreds of sockets has, and passing none of them on.
@Suite("Child processes")
struct ChildProcessTests {
    @Test(
        "started with up to 2,000 descriptors open, the child holds only 0, 1 and 2; output and exit status come back")
    func manyDescriptors() async throws {
        var opened: [Int32] = []
        defer { for descriptor in opened { close(descriptor) } }
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        // As many as the limit leaves room for beside the suites running alongside.
        for _ in 0..<min(2_000, Int(limit.rlim_cur) / 2) {
            let descriptor = open("/dev/null", O_RDONLY)  // without O_CLOEXEC: inherited unless closed
            try #require(descriptor >= 0)
            opened.append(descriptor)
        }
        for _ in 0..<20 {
            let child = try ChildProcess("/bin/sh", ["-c", "ls /proc/$$/fd; exit 3"], output: .standardOutput)
            let listed = await child.readOutputToEnd()
            #expect(await child.exit() == 3)
            #expect(listed.split(separator: "\n") == ["0", "1", "2"], "\(listed)")
        }
    }

    @Test("a child ended by a signal reports 128 + the signal; a second wait returns the same")
    func signalled() async throws {
        let child = try ChildProcess("/bin/sleep", ["30"])
        child.send(SIGKILL)
        #expect(await child.exit() == 128 + SIGKILL)
        #expect(child.waitUntilExit() == 128 + SIGKILL)
        child.terminate()  // already waited for: no signal to a pid that may be reused
    }

    @Test("a program that does not exist is a thrown error naming it")
    func missing() throws {
        #expect(throws: SpawnFailed.self) { try ChildProcess("/nonexistent/program", []) }
    }
}
