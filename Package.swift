// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Pillarbox",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "pillarbox", targets: ["pillarbox"]),
        // For the Fuzz package, which builds these alone with libFuzzer's instrumentation.
        .library(name: "MailCore", targets: ["MailCore"]),
        .library(name: "SMTPWire", targets: ["SMTPWire", "WireCore"]),
        .library(name: "IMAPWire", targets: ["IMAPWire", "WireCore"]),
        .library(name: "POP3Wire", targets: ["POP3Wire", "WireCore"]),
        .library(name: "SMTPClient", targets: ["SMTPClient", "SMTPWire", "WireCore"]),
        .library(name: "MailAuth", targets: ["MailAuth"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        // MTA-STS policies are fetched over HTTPS (RFC 8461 §3.3).
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // The web admin and its JSON API.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        // Metrics, exposed on the admin listener's /metrics in Prometheus's text format.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // System libraries, found through pkg-config.
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // gzip for DMARC aggregate reports (RFC 7489 §7.2.1.1), sent and received.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CLua", pkgConfig: "lua5.4", providers: [.apt(["liblua5.4-dev"])]),
        .systemLibrary(name: "CUnbound", pkgConfig: "libunbound", providers: [.apt(["libunbound-dev"])]),

        // Pure value types and parsers: no I/O.
        .target(name: "MailCore"),

        // The protocols' wire layers: pure parsers of untrusted bytes, fuzzed by the Fuzz package.
        // WireCore holds what the three share: the CRLF line buffer, base64, xtext, SASL lines.
        .target(name: "WireCore", path: "Sources/Wire/Core"),
        .target(name: "SMTPWire", dependencies: ["WireCore"], path: "Sources/Wire/SMTP"),
        .target(name: "IMAPWire", dependencies: ["WireCore"], path: "Sources/Wire/IMAP"),
        .target(name: "POP3Wire", dependencies: ["WireCore"], path: "Sources/Wire/POP3"),

        // DNS: libunbound behind the Resolver protocol, a table resolver for tests, and where mail
        // for a domain goes (RFC 5321 §5.1).
        .target(
            name: "DNS",
            dependencies: ["MailCore", "CUnbound", .product(name: "NIOPosix", package: "swift-nio")]
        ),

        // Mail authentication: DKIM (and SPF, DMARC, ARC to come), pure over the Resolver protocol.
        .target(
            name: "MailAuth",
            dependencies: [
                "DNS", "MailCore", "CZlib",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),

        // The SMTP client: its session as a pure state machine over SMTPWire's reply reader.
        .target(
            name: "SMTPClient",
            dependencies: [
                "SMTPWire", "WireCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),

        // The append-only event log on PostgreSQL, with its migrations embedded in the binary.
        .target(
            name: "EventLog",
            dependencies: [
                "MailCore", "CZstd",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            plugins: ["EmbedMigrations"]
        ),
        // The facts: every event type, grouped by domain, each naming its one writer.
        .target(
            name: "Facts",
            dependencies: [
                "EventLog", "MailCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            exclude: ["README.md"]
        ),
        .target(
            name: "Projections",
            dependencies: [
                "EventLog", "Facts", "MailCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // The write side: mailbox, directory and settings commands. Each checks a request against
        // the live projection read in its own transaction, decides the facts and appends them.
        .target(
            name: "Commands",
            dependencies: [
                "EventLog", "Facts", "Projections", "MailCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Searching, sorting and threading a mailbox's messages (IMAP SEARCH, SORT, THREAD; the web admin).
        .target(name: "MailQuery", dependencies: ["MailCore", "IMAPWire", "Projections", .product(name: "Crypto", package: "swift-crypto")]),
        // Recipient resolution: aliases, lists, the relay decision, who may send as whom.
        .target(name: "Routing", dependencies: ["Facts", "Projections", .product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "Gateways",
            dependencies: [
                "EventLog", "Facts", "Projections", "Commands", "Routing", "MailQuery", "MailCore", "WireCore", "SMTPWire", "IMAPWire", "POP3Wire",
                "DNS", "MailAuth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            // The gateways never reach the database themselves: without PostgresNIO among their
            // imports, none of its members is visible here either.
            swiftSettings: [.enableUpcomingFeature("MemberImportVisibility")]
        ),
        // Delivery agents: local delivery, the outbound scheduler, the mail collectors, reports.
        .target(
            name: "Delivery",
            dependencies: [
                "EventLog", "Facts", "Projections", "Commands", "Routing", "MailCore", "DNS", "SMTPClient", "SMTPWire", "MailAuth", "IMAPWire",
                "POP3Wire",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // The web admin: the JSON API, health checks and pages on `listeners.admin`.
        .target(
            name: "Admin",
            dependencies: [
                "EventLog", "Facts", "Projections", "Commands", "Gateways", "Delivery", "MailCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "pillarbox",
            dependencies: [
                "EventLog", "Facts", "Projections", "Commands", "Gateways", "Delivery", "MailCore", "MailAuth", "Admin",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),

        // Build tooling: turns migrations/*.sql into Swift source compiled into EventLog.
        .executableTarget(name: "embed-migrations", path: "Plugins/embed-migrations"),
        .plugin(name: "EmbedMigrations", capability: .buildTool(), dependencies: ["embed-migrations"]),

        // Benchmarks (run by bench/*/run, never by the test suite).
        .executableTarget(
            name: "pillarbox-bench",
            dependencies: [
                "EventLog", "Facts", "Projections", "MailCore", "MailAuth",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "bench/Sources"
        ),

        // Tests.
        .target(
            name: "TestSupport",
            dependencies: [
                "EventLog", "Facts", "Projections", "Commands",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TestSupport"
        ),
        .testTarget(name: "MailCoreTests", dependencies: ["MailCore"]),
        .testTarget(name: "EventLogTests", dependencies: [
            "EventLog", "MailCore", "TestSupport", "CZstd", .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .testTarget(name: "GatewaysTests", dependencies: [
            "Gateways", "Facts", "MailCore", "MailQuery", "Projections", "WireCore", "SMTPWire", "IMAPWire", "POP3Wire",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),
        .testTarget(name: "ProjectionsTests", dependencies: ["Projections", "Commands", "Facts", "EventLog", "MailCore", "TestSupport"]),
        .testTarget(name: "CommandsTests", dependencies: ["Commands", "Projections", "Facts", "EventLog", "MailCore", "TestSupport"]),
        .testTarget(name: "DNSTests", dependencies: ["DNS", "MailCore", "TestSupport"]),
        .testTarget(name: "DeliveryTests", dependencies: [
            "Delivery", "MailCore", .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"), .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        .testTarget(name: "SMTPClientTests", dependencies: ["SMTPClient", "SMTPWire", "WireCore"]),
        .testTarget(name: "RoutingTests", dependencies: ["Routing", "Facts", "Projections"]),
        .testTarget(name: "AdminTests", dependencies: ["Admin"]),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CLua", "CZstd"]),
        .testTarget(name: "MailAuthTests", dependencies: [
            "MailAuth", "DNS", "TestSupport", .product(name: "Crypto", package: "swift-crypto"), .product(name: "_CryptoExtras", package: "swift-crypto"),
        ]),
        .testTarget(
            name: "PillarboxTests",
            dependencies: [
                "pillarbox", "EventLog", "Facts", "Projections", "Commands", "TestSupport",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
