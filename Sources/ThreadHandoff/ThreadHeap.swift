#if canImport(Glibc)
    import Glibc
#endif

/// The calling thread's free heap memory handed back to the system, when the process's
/// allocator can. The `stockgate` binary runs on mimalloc (Package.swift), which keeps the pages
/// a thread freed in that thread's heap until the thread allocates again; `mi_collect` returns
/// them. It is looked up at run time, so a binary on glibc (the test binaries) calls nothing.
public enum ThreadHeap {
    typealias Collect = @convention(c) (Bool) -> Void

    /// mimalloc's `mi_collect(force)`, when the process has it.
    static let collect: Collect? = {
        #if os(Linux)
            // A null handle is glibc's RTLD_DEFAULT: the process's global symbols.
            return dlsym(nil, "mi_collect").map { unsafeBitCast($0, to: Collect.self) }
        #else
            return nil  // mimalloc is linked on Linux only (Package.swift)
        #endif
    }()

    /// Hands the calling thread's free pages back to the system (nothing without mimalloc).
    @Sendable public static func release() {
        collect?(true)
    }
}
