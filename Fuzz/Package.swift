// swift-tools-version: 6.1
// libFuzzer targets for Pillarbox's parsers of untrusted bytes. Built and run by `make fuzz`:
//   swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
// MailCore is the main package's own source (a symbolic link), so nothing else is built.
import PackageDescription

let package = Package(
    name: "PillarboxFuzz",
    targets: [
        .target(name: "MailCore"),
        .executableTarget(name: "FuzzMIME", dependencies: ["MailCore"]),
        .executableTarget(name: "FuzzDomainName", dependencies: ["MailCore"]),
    ],
    swiftLanguageModes: [.v6]
)
