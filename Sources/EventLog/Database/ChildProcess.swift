import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a program to completion and captures its output.
///
/// Spawned with `posix_spawn` and reaped with `waitpid` rather than through Foundation's
/// `Process`, which on Linux learns of the end of a child from a descriptor the child inherits:
/// `pg_ctl start` leaves a daemon behind that would hold it open for as long as it runs. For the
/// same reason output goes to a temporary file, not a pipe, and every other descriptor is closed
/// in the child.
struct ChildProcess {
    struct Output {
        let status: Int32
        let text: String
    }

    struct LaunchError: Error, CustomStringConvertible {
        let command: String
        let code: Int32
        var description: String { "could not run \(command): \(String(cString: strerror(code)))" }
    }

    static func run(_ executable: String, _ arguments: [String], asUser user: String? = nil) async throws -> Output {
        let argv = user.map { [runuserPath, "-u", $0, "--", executable] } ?? [executable]
        let command = argv + arguments
        var environmentValues = ProcessInfo.processInfo.environment
        environmentValues["LC_ALL"] = "C"

        let outputPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("pillarbox-\(UUID().uuidString).out").path
        let outputDescriptor = open(outputPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard outputDescriptor >= 0 else { throw LaunchError(command: outputPath, code: errno) }
        defer {
            close(outputDescriptor)
            unlink(outputPath)
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outputDescriptor, 1)
        posix_spawn_file_actions_adddup2(&actions, outputDescriptor, 2)
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }

        let cArguments = command.map { strdup($0) } + [nil]
        let cEnvironment = environmentValues.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            cArguments.forEach { free($0) }
            cEnvironment.forEach { free($0) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, command[0], &actions, nil, cArguments, cEnvironment)
        guard spawned == 0 else { throw LaunchError(command: command.joined(separator: " "), code: spawned) }

        let child = pid
        let status = await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
            DispatchQueue.global().async {
                var status: Int32 = 0
                while waitpid(child, &status, 0) < 0 && errno == EINTR {}
                continuation.resume(returning: status)
            }
        }
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        // Exit status as the shell reports it: the code, or 128 + the signal that ended it.
        let exited = status & 0x7f == 0
        return Output(status: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), text: text)
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later), looked up at run time
    /// because Swift's Glibc module does not declare it.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    static var runuserPath: String {
        ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"].first { FileManager.default.isExecutableFile(atPath: $0) }
            ?? "/usr/sbin/runuser"
    }
}
