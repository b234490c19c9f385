/// Settings of the event log, from the bootstrap configuration's `eventLog` section.
public struct EventLogConfiguration: Sendable, Equatable {
    /// Longest time the group committer holds a batch open for more appends. Default 2 ms.
    public var groupCommitMaxWait: Duration = .milliseconds(2)
    /// Most events in one batch. Default 2 000.
    public var groupCommitMaxEvents: Int = 2_000
    /// Most stored bytes (payloads and blobs) in one batch. Default 32 MiB.
    public var groupCommitMaxBytes: Int = 32 << 20
    /// Longest time a batch of appends waits for a database connection before its writers get
    /// an error (nothing of it was sent). Default 30 s.
    public var groupCommitConnectionDeadline: Duration = .seconds(30)
    /// Longest time a batch's statement may run before its connection is closed and its writers
    /// get an error (the batch may still commit; a retry with the same event ids is harmless).
    /// Never less than the connection deadline. Default 60 s.
    public var groupCommitStatementDeadline: Duration = .seconds(60)
    /// zstd level for event payloads. Default 3.
    public var compressionLevel: Int32 = 3
    /// zstd level for blobs (message bodies). Default 3.
    public var blobCompressionLevel: Int32 = 3
    /// Largest payload or blob that will be decompressed. Default 256 MiB.
    public var maxDecodedBytes: Int = 256 << 20
    /// Store new message bodies sealed (AES-256-GCM under a data key wrapped for each holder,
    /// KeyStore.swift), so erasing a user can make their mail unreadable. Default on; bodies
    /// stored either way stay readable.
    public var sealBodies: Bool = true

    public init() {}
}
