// swift-tools-version: 6.1
// libFuzzer targets for Pillarbox's parsers of untrusted bytes. Built and run by `make fuzz`:
//   swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
// MailCore, SMTPWire, POP3Wire and IMAPWire are the main package's own sources (symbolic links), so nothing else is built.
import PackageDescription

let package = Package(
    name: "PillarboxFuzz",
    targets: [
        .target(name: "MailCore"),
        // The entry point every target hands to libFuzzer.
        .target(name: "FuzzDriver"),
        .executableTarget(name: "FuzzMIME", dependencies: ["MailCore", "FuzzDriver"]),
        .executableTarget(name: "FuzzDomainName", dependencies: ["MailCore", "FuzzDriver"]),
        // The SMTP gateway's wire layer (command parser, line reader, DATA/BDAT scanner), linked the same way.
        .target(name: "SMTPWire"),
        .executableTarget(name: "FuzzSMTP", dependencies: ["SMTPWire", "FuzzDriver"]),
        .target(name: "POP3Wire"),
        .executableTarget(name: "FuzzPOP3", dependencies: ["POP3Wire", "FuzzDriver"]),
        .target(name: "IMAPWire", dependencies: ["SMTPWire"]),
        .executableTarget(name: "FuzzIMAP", dependencies: ["IMAPWire", "SMTPWire", "FuzzDriver"]),
    ],
    swiftLanguageModes: [.v6]
)
