import Foundation

/// An exclusive lock on the data directory held by `pillarbox serve` for its lifetime, so two
/// servers never share one embedded cluster. The kernel drops it when the process dies, however
/// it dies.
final class DataDirectoryLock: Sendable {
    struct Held: Error, CustomStringConvertible {
        let directory: String
        var description: String { "another pillarbox serve is running with data directory \(directory)" }
    }

    private let descriptor: Int32

    init(directory: String) throws {
        let path = directory + "/serve.lock"
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw Held(directory: directory)
        }
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }

    /// True when some process holds the lock now.
    static func isHeld(directory: String) -> Bool {
        let descriptor = open(directory + "/serve.lock", O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        if flock(descriptor, LOCK_EX | LOCK_NB) == 0 {
            flock(descriptor, LOCK_UN)
            return false
        }
        return true
    }
}
