import Foundation
import StockCore

#if canImport(Glibc)
    import Glibc
#endif

/// One process per data directory: an exclusive `flock` on `<data-dir>/stockgate.lock`,
/// holding the owner's pid for the message a second process prints. The kernel drops the
/// lock when the process dies, even by `kill -9`, so a stale file never blocks a restart.
///
/// `@unchecked Sendable`: the descriptor is written once at creation and closed once by
/// `release`, which `Ledger.close` calls after every other use of the ledger.
final class DataDirectoryLock: @unchecked Sendable {
    static let fileName = "stockgate.lock"
    private var descriptor: Int32

    /// Takes the lock or says who holds it.
    init(directory: String) throws {
        let path = (directory as NSString).appendingPathComponent(Self.fileName)
        descriptor = Glibc.open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw LedgerOpenError(description: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(descriptor, &buffer, buffer.count, 0)
            let holder = String(decoding: buffer.prefix(max(0, count)), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            // Closed here and marked so: `deinit` runs for an initializer that throws after
            // every property is set, and a second close would take whatever descriptor another
            // thread had been given that number meanwhile (DataDirectoryTests/refusalClosesOnce).
            Glibc.close(descriptor)
            descriptor = -1
            throw LedgerOpenError(
                description: "data directory \(directory) is in use by another StockGate process"
                    + (holder.isEmpty ? "" : " (pid \(holder))") + "; stop it first or use another --data-dir")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(descriptor, 0)
        _ = pid.withCString { pwrite(descriptor, $0, strlen($0), 0) }
    }

    func release() {
        guard descriptor >= 0 else { return }
        // Unlock before closing: a child process being started at this moment (fork, then
        // closing every descriptor before exec) shares the open file description, and closing
        // ours alone would leave the lock held until the child got to it.
        flock(descriptor, LOCK_UN)
        Glibc.close(descriptor)
        descriptor = -1
    }

    deinit { release() }
}

/// The ledger file as it was when opened (device and inode): a file deleted or replaced under
/// a running process is noticed, and writes are refused instead of being acknowledged into an
/// unlinked file that a restart would never see.
struct LedgerFileIdentity: Sendable {
    let path: String
    let device: UInt64
    let inode: UInt64

    init(path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw LedgerOpenError(description: "cannot stat \(path): \(String(cString: strerror(errno)))")
        }
        self.path = path
        self.device = UInt64(info.st_dev)
        self.inode = UInt64(info.st_ino)
    }

    /// Why the file on disk is no longer the one the ledger writes to, if it is not. Callers and
    /// `/healthz` read this, so it names no path (the server's directories are no business of a
    /// client's); the log line has the path (`Ledger`'s commit check).
    var problem: String? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            return "the ledger file is gone (deleted while StockGate was running)"
        }
        guard UInt64(info.st_dev) == device, UInt64(info.st_ino) == inode else {
            return "the ledger file was replaced while StockGate was running"
        }
        return nil
    }
}

/// Why a ledger cannot be opened, in words for an operator.
public struct LedgerOpenError: Error, CustomStringConvertible, Sendable {
    public var description: String
}
