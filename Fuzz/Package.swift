// swift-tools-version: 6.1
// libFuzzer targets for Pillarbox's parsers of untrusted bytes. Built and run by `make fuzz`:
//   swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
// The parsers come from the main package's MailCore and wire libraries; only those are built.
import PackageDescription

let package = Package(
    name: "PillarboxFuzz",
    dependencies: [.package(name: "Pillarbox", path: "..")],
    targets: [
        // The entry point every target hands to libFuzzer.
        .target(name: "FuzzDriver"),
        .executableTarget(name: "FuzzMIME", dependencies: [.product(name: "MailCore", package: "Pillarbox"), "FuzzDriver"]),
        .executableTarget(name: "FuzzDNSRecordData", dependencies: [.product(name: "MailCore", package: "Pillarbox"), "FuzzDriver"]),
        .executableTarget(name: "FuzzDomainName", dependencies: [.product(name: "MailCore", package: "Pillarbox"), "FuzzDriver"]),
        .executableTarget(name: "FuzzSMTP", dependencies: [.product(name: "SMTPWire", package: "Pillarbox"), "FuzzDriver"]),
        .executableTarget(name: "FuzzSMTPReplies", dependencies: [.product(name: "SMTPWire", package: "Pillarbox"), "FuzzDriver"]),
        .executableTarget(name: "FuzzSMTPClient", dependencies: [.product(name: "SMTPClient", package: "Pillarbox"), "FuzzDriver"]),
        .executableTarget(name: "FuzzMailAuth", dependencies: [.product(name: "MailAuth", package: "Pillarbox"), "FuzzDriver"]),
        .executableTarget(name: "FuzzPOP3", dependencies: [.product(name: "POP3Wire", package: "Pillarbox"), "FuzzDriver"]),
        .executableTarget(name: "FuzzIMAP", dependencies: [.product(name: "IMAPWire", package: "Pillarbox"), "FuzzDriver"]),
        .executableTarget(name: "FuzzCSV", dependencies: [.product(name: "MailCore", package: "Pillarbox"), "FuzzDriver"]),
    ],
    swiftLanguageModes: [.v6]
)
