import ArgumentParser
import Commands
import EventLog
import Facts
import Foundation
import MailAuth
import Projections

/// `pillarbox dkim`: signing keys per domain and selector, private keys sealed in the vault.
struct DKIMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dkim", abstract: "DKIM signing keys: make one and print its DNS record, list them, retire one.",
        subcommands: [Keygen.self, List.self, Retire.self])

    struct Keygen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a key for DOMAIN and SELECTOR (RSA 2048 unless --ed25519), seal it, and print the TXT record to publish.")
        @OptionGroup var options: DirectoryOptions
        @Argument var domain: String
        @Argument var selector: String
        @Flag(help: "An Ed25519 key (RFC 8463) instead of RSA.") var ed25519 = false
        @Option(help: "RSA key size in bits (2048, 3072 or 4096).") var bits = 2048

        func run() async throws {
            guard [2048, 3072, 4096].contains(bits) else { throw ValidationError("--bits takes 2048, 3072 or 4096") }
            let key = try DKIMKey.generate(domain: domain, selector: selector, ed25519: ed25519, bits: bits)
            let entry = try await options.withDirectory { directory in
                guard let vault = directory.vault else {
                    throw SettingProblem("DKIM keys are sealed with the key in the key directory, which is not available here")
                }
                let keys = try await SettingWriter(engine: directory.engine).update(.dkimKeys, actor: commandLineActor) { keys, connection in
                    guard !keys.contains(where: { $0.domain == key.domain && $0.selector == key.selector }) else {
                        throw SettingProblem("a key for \(key.recordName) exists; choose another selector to rotate")
                    }
                    let placeholder = DKIMKeyEntry(domain: key.domain, selector: key.selector, algorithm: key.algorithm.rawValue,
                                                   secret: UUID(), record: key.record, created: Date())
                    let secret = try await vault.store(key.secretBytes, purpose: DKIMKeyEntry.purpose, subject: placeholder.subject,
                                                       on: connection)
                    var entry = placeholder
                    entry.secret = secret
                    keys.append(entry)
                }
                return keys.first { $0.domain == key.domain && $0.selector == key.selector }!
            }
            options.output.print(record: [("name", key.recordName + "."), ("type", "TXT"), ("value", entry.record),
                                          ("algorithm", entry.algorithm)])
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the keys and their DNS records.")
        @OptionGroup var options: DirectoryOptions
        func run() async throws {
            let keys = try await options.withDirectory { try await Settings(engine: $0.engine).value(SettingKey.dkimKeys) }
            options.output.print(columns: ["domain", "selector", "algorithm", "state", "created", "record"], rows: keys.map {
                [$0.domain, $0.selector, $0.algorithm, $0.retired ? "retired" : "signing", $0.created.formatted(.iso8601), $0.record]
            })
        }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop signing with a key and delete its private half (its record can go from DNS once its mail has arrived).")
        @OptionGroup var options: DirectoryOptions
        @Argument var domain: String
        @Argument var selector: String
        func run() async throws {
            let domain = self.domain.lowercased(), selector = self.selector.lowercased()
            try await options.withDirectory { directory in
                try await SettingWriter(engine: directory.engine).update(.dkimKeys, actor: commandLineActor) { keys, connection in
                    guard let index = keys.firstIndex(where: { $0.domain == domain && $0.selector == selector }) else {
                        throw SettingProblem("no key for \(selector)._domainkey.\(domain)")
                    }
                    keys[index].retired = true
                    if let vault = directory.vault { try await vault.delete([keys[index].secret], on: connection) }
                }
            }
            options.output.done("retired \(selector)._domainkey.\(domain)")
        }
    }
}
