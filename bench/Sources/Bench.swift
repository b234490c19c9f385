import ArgumentParser
import Logging

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pillarbox-bench",
        abstract: "Pillarbox's benchmarks; each measures a peer in the same run and prints the ratio.",
        subcommands: [AppendBenchmark.self, CompressionBenchmark.self, CodecBenchmark.self, RebuildBenchmark.self, LagBenchmark.self, DKIMSignBenchmark.self,
                      DKIMMessageBenchmark.self, AdminPeerServer.self]
    )
}

func benchLogger() -> Logger {
    var logger = Logger(label: "bench")
    logger.logLevel = .warning
    return logger
}
