import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The `pillarbox` executable built beside the tests, run as a real process.
public enum PillarboxBinary {
    /// `PILLARBOX_BINARY`, or the one in this package's build directory next to the test bundle.
    public static var path: String {
        get throws {
            if let path = ProcessInfo.processInfo.environment["PILLARBOX_BINARY"], !path.isEmpty { return path }
            let candidates = [
                Bundle.main.bundleURL.appendingPathComponent("pillarbox").path,
                URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("pillarbox").path,
                URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                    .appendingPathComponent(".build/debug/pillarbox").path,
            ]
            guard let path = candidates.first(where: FileManager.default.isExecutableFile(atPath:)) else {
                throw MissingBinary(searched: candidates)
            }
            return path
        }
    }

    public struct MissingBinary: Error, CustomStringConvertible {
        let searched: [String]
        public var description: String { "the pillarbox binary was not found (build it first); looked at \(searched)" }
    }

    /// Runs `pillarbox ARGUMENTS` to completion.
    /// `input`, when given, is the command's standard input.
    public static func run(_ arguments: [String], environment: [String: String] = [:],
                           input: String? = nil) async throws -> ProcessResult {
        var inputPath: String?
        if let input {
            let path = FileManager.default.temporaryDirectory.path + "/pillarbox-test-\(UUID().uuidString).in"
            try input.write(toFile: path, atomically: true, encoding: .utf8)
            inputPath = path
        }
        defer { if let inputPath { try? FileManager.default.removeItem(atPath: inputPath) } }
        let process = try RunningProcess(executable: try path, arguments: arguments, environment: environment,
                                         inputPath: inputPath)
        let status = try await process.wait(timeout: .seconds(120))
        return ProcessResult(status: status, output: process.output, errors: process.errors)
    }
}

public struct ProcessResult: Sendable {
    public let status: Int32
    public let output: String
    public let errors: String

    public init(status: Int32, output: String, errors: String) {
        self.status = status
        self.output = output
        self.errors = errors
    }
}

/// A child process with its standard output and error in files, signalled and awaited by pid.
/// (Spawned directly: Foundation's Process watches a descriptor the child's own children
/// could inherit.)
public final class RunningProcess: Sendable {
    public let pid: pid_t
    private let outputPath: String
    private let errorPath: String

    public init(executable: String, arguments: [String], environment: [String: String] = [:],
                inputPath: String? = nil) throws {
        let directory = FileManager.default.temporaryDirectory.path
        let stem = "pillarbox-test-\(UUID().uuidString)"
        outputPath = "\(directory)/\(stem).out"
        errorPath = "\(directory)/\(stem).err"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inputPath ?? "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var variables = ProcessInfo.processInfo.environment
        for (key, value) in environment { variables[key] = value }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = variables.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EINVAL) }
        self.pid = pid
    }

    public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }
    public var errors: String { (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "" }

    public func signal(_ signal: Int32) {
        kill(pid, signal)
    }

    /// The exit status (128 + signal number when a signal ended it).
    public func wait(timeout: Duration) async throws -> Int32 {
        let pid = self.pid
        return try await eventually(within: timeout, pollingEvery: .milliseconds(25), "process \(pid) to exit") {
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            guard reaped == pid else { return nil }
            return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        }
    }

    /// Waits until standard error holds `text`.
    public func waitForLog(_ text: String, timeout: Duration = .seconds(90)) async throws {
        _ = try await eventually(within: timeout, pollingEvery: .milliseconds(50), "\"\(text)\" in the server's log") {
            if self.errors.contains(text) { return true }
            var status: Int32 = 0
            if waitpid(self.pid, &status, WNOHANG) == self.pid {
                throw ExitedEarly(status: status, log: self.errors)
            }
            return nil
        }
    }

    public struct ExitedEarly: Error, CustomStringConvertible {
        let status: Int32
        let log: String
        public var description: String { "the process exited (status \(status)) before it was ready:\n\(log)" }
    }

    deinit {
        unlink(outputPath)
        unlink(errorPath)
    }
}
