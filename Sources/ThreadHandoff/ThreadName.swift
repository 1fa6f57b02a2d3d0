#if canImport(Glibc)
    import Glibc
#endif

/// The name the kernel shows for the calling thread (`top -H`, `/proc/<pid>/task/*/comm`,
/// perf). Foundation's `Thread.name` does not reach it on Linux: a thread started from an
/// event loop or a libdispatch worker showed that thread's name instead.
public enum ThreadName {
    /// Names the calling thread; at most 15 bytes are kept (the kernel's limit). Written to
    /// `/proc/thread-self/comm` (`pthread_setname_np` is not in Swift's Glibc module); a name
    /// that cannot be set leaves the old one.
    public static func set(_ name: String) {
        let descriptor = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        let bytes = Array(name.utf8.prefix(15))
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
    }
}
