import Commands
import EventLog
import Foundation
import Gateways
import Testing
@testable import pillarbox

@Suite("Bootstrap configuration")
struct ConfigurationTests {
    func writeFile(_ text: String) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pillarbox-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("pillarbox.json").path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("defaults")
    func defaults() throws {
        let configuration = try ConfigurationLoader(environment: [:]).load(file: nil, flags: [:])
        #expect(configuration.dataDirectory == "/var/lib/pillarbox")
        #expect(configuration.databaseURL == nil)
        #expect(configuration.listeners[.smtp]?.description == "0.0.0.0:25")
        #expect(configuration.listeners[.admin]?.description == "127.0.0.1:8080")
        #expect(configuration.eventLog.groupCommitMaxWait == .milliseconds(2))
        #expect(configuration.logLevel == .info)
    }

    @Test("file, then environment, then flags")
    func precedence() throws {
        let file = try writeFile("""
            {"hostname": "mx.example.com", "dataDirectory": "state",
             "listeners": {"smtp": "127.0.0.1:2525", "imap": "", "pop3": null},
             "eventLog": {"groupCommitMaxWaitMicroseconds": 500, "compressionLevel": 5}}
            """)
        let loader = ConfigurationLoader(environment: ["PILLARBOX_SMTP": "127.0.0.1:2626", "PILLARBOX_HOSTNAME": "env.example.com"])
        let configuration = try loader.load(file: file, flags: ["hostname": "flag.example.com"])
        #expect(configuration.hostname.value == "flag.example.com")
        #expect(configuration.listeners[.smtp]?.description == "127.0.0.1:2626")
        #expect(configuration.listeners[.imap] == nil)
        #expect(configuration.listeners[.pop3] == nil)
        #expect(configuration.listeners[.imaps]?.port == 993)
        #expect(configuration.eventLog.groupCommitMaxWait == .microseconds(500))
        #expect(configuration.eventLog.compressionLevel == 5)
        // Paths in the file are relative to the file.
        let fileDirectory = URL(fileURLWithPath: file).deletingLastPathComponent().path
        #expect(configuration.dataDirectory == fileDirectory + "/state")
    }

    @Test("the config file can be named by PILLARBOX_CONFIG")
    func fileFromEnvironment() throws {
        let file = try writeFile(#"{"logLevel": "debug"}"#)
        let configuration = try ConfigurationLoader(environment: ["PILLARBOX_CONFIG": file]).load(file: nil, flags: [:])
        #expect(configuration.logLevel == .debug)
    }

    @Test("errors name the key and where the value came from")
    func errors() throws {
        func failure(file: String? = nil, environment: [String: String] = [:], flags: [String: String] = [:]) -> ConfigurationError? {
            do {
                _ = try ConfigurationLoader(environment: environment).load(file: file, flags: flags)
                return nil
            } catch {
                return error as? ConfigurationError
            }
        }
        let unknown = failure(file: try writeFile(#"{"listeners": {"smpt": "0.0.0.0:25"}}"#))
        #expect(unknown?.key == "listeners.smpt")

        let badFile = failure(file: try writeFile(#"{"eventLog": {"compressionLevel": "high"}}"#))
        #expect(badFile?.key == "eventLog.compressionLevel")
        #expect(badFile?.source.hasPrefix("config file") == true)

        let badEnvironment = failure(environment: ["PILLARBOX_IMAP": "localhost"])
        #expect(badEnvironment?.key == "listeners.imap")
        #expect(badEnvironment?.source == "PILLARBOX_IMAP")
        #expect(badEnvironment?.description.contains("HOST:PORT") == true)

        let badFlag = failure(flags: ["hostname": "not a host"])
        #expect(badFlag?.source == "--hostname")

        #expect(failure(flags: ["logLevel": "loud"])?.key == "logLevel")
        #expect(failure(flags: ["databaseURL": "mysql://x"])?.key == "databaseURL")
        #expect(failure(environment: ["PILLARBOX_GROUP_COMMIT_MAX_WAIT_US": "999999999"])?.key == "eventLog.groupCommitMaxWaitMicroseconds")
        #expect(failure(flags: ["tls.certificate": "/nonexistent.pem"])?.key == "tls.key")
        #expect(failure(flags: ["tls.certificate": "/nonexistent.pem", "tls.key": "/nonexistent.key"])?.key == "tls.certificate")
        #expect(failure(flags: ["listeners.imap": "0.0.0.0:25"])?.key == "listeners.imap")
        #expect(failure(file: try writeFile("[1, 2]"))?.key == "(file)")
        #expect(failure(file: try writeFile("{nope"))?.key == "(file)")
    }

    @Test("every key has an environment variable and a documented summary")
    func keyTable() {
        let keys = ConfigurationKey.all
        #expect(Set(keys.map(\.path)).count == keys.count)
        #expect(Set(keys.map(\.environment)).count == keys.count)
        #expect(keys.allSatisfy { $0.environment.hasPrefix("PILLARBOX_") && !$0.summary.isEmpty })
        for kind in ListenerConfiguration.Kind.allCases {
            #expect(keys.contains { $0.flag == kind.rawValue })
        }
    }

    @Test("log dump lines are JSON with the data inlined")
    func dumpLine() throws {
        let line = EventDumpLine(.init(position: 7, transaction: 99, stream: "server-mx\"1", streamVersion: 2, type: "server_started",
                                       typeVersion: 1, eventID: UUID(), correlationID: nil, causationID: nil,
                                       recordedAt: Date(timeIntervalSince1970: 0), json: Array(#"{"a":[1,2]}"#.utf8)))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.text.utf8)) as? [String: Any])
        #expect(object["position"] as? Int == 7)
        #expect(object["stream"] as? String == "server-mx\"1")
        #expect(object["version"] as? Int == 2)
        #expect(object["recorded_at"] as? String == "1970-01-01T00:00:00.000Z")
        #expect((object["data"] as? [String: Any])?["a"] as? [Int] == [1, 2])
    }
}
