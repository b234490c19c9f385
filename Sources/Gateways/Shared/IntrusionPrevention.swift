import EventLog
import Foundation
import Logging
import MailCore
import Synchronization

/// VPOP3's score-based IPS, shared by every listener: each IDS event adds its score to the
/// client address; reaching the threshold within the period blocks the address for the block
/// time. The scores are counted in PostgreSQL, across every `serve` process on the database;
/// blocks are events the caller appends, and this holds the block list as the log has it (the
/// block list follower keeps it current), so a block made by one process holds in all.
public final class IntrusionPrevention: Sendable {
    public struct Configuration: Sendable {
        public var threshold = 1_000
        public var period: TimeInterval = 3_600
        public var blockTime: TimeInterval = 1_800
        public var neverBlock = IPAccessList(entries: [])
        public init() {}
    }

    struct Block {
        let network: IPNetwork
        let until: Date
    }

    private let state = Mutex<(scores: [String: [(Date, Int)]], blocks: [Block])>(([:], []))
    /// Incidents counted through the database, to prune its old ones now and then.
    private let sharedIncidents = Atomic<Int>(0)

    public init() {}

    /// Adds a block (from the IPS, an administrator, or the block list at start-up).
    public func block(_ address: String, until: Date) {
        guard let network = IPNetwork(address) else { return }
        state.withLock { state in
            state.blocks.removeAll { $0.network == network }
            state.blocks.append(Block(network: network, until: until))
        }
    }

    /// Makes the block list exactly `blocks` (the block list as the log has it).
    public func replaceBlocks(_ blocks: [(address: String, until: Date)]) {
        let parsed = blocks.compactMap { block in IPNetwork(block.address).map { Block(network: $0, until: block.until) } }
        state.withLock { $0.blocks = parsed }
    }

    public func unblock(_ address: String) {
        guard let network = IPNetwork(address) else { return }
        state.withLock { $0.blocks.removeAll { $0.network == network } }
    }

    /// Whether `address` is blocked at `now` (the never-block list wins).
    public func isBlocked(_ address: String, at now: Date, neverBlock: IPAccessList) -> Bool {
        if neverBlock.allows(address) { return false }
        guard let bytes = IPNetwork.parseAddress(address) else { return false }
        return state.withLock { state in
            state.blocks.removeAll { $0.until <= now }
            return state.blocks.contains { $0.network.contains(bytes: bytes) }
        }
    }

    /// Adds `score` for `address` to the count every `serve` process on the database shares
    /// (`runtime.ips_scores`, one count per `kind`); returns the total within the period when
    /// this incident made it reach the threshold (the caller then records the block), nil
    /// otherwise. When the database cannot be reached, this process counts alone.
    public func add(_ score: Int, for address: String, kind: String, at now: Date, configuration: Configuration,
                    sharedThrough store: EventStore, logger: Logger) async -> Int? {
        guard score > 0, !configuration.neverBlock.allows(address) else { return nil }
        let total: Int
        do {
            total = try await store.addIntrusionScore(score, address: address, kind: kind, at: now,
                                                      since: now.addingTimeInterval(-configuration.period))
        } catch {
            logger.warning("the shared IPS count is out of reach; counting in this process", metadata: ["error": "\(error)"])
            return add(score, for: address, at: now, configuration: configuration)
        }
        // Addresses that never come back leave incidents nobody prunes on the way: every few
        // hundred incidents, drop every one older than a day (or the period, if longer).
        if sharedIncidents.add(1, ordering: .relaxed).newValue % 256 == 0 {
            let horizon = now.addingTimeInterval(-max(configuration.period, 86_400))
            try? await store.pruneIntrusionScores(before: horizon)
        }
        guard total >= configuration.threshold else { return nil }
        do {
            try await store.clearIntrusionScore(address: address, kind: kind)
        } catch {
            logger.warning("clearing an IPS count failed", metadata: ["client": "\(address)", "error": "\(error)"])
        }
        block(address, until: now.addingTimeInterval(configuration.blockTime))
        return total
    }

    /// Adds `score` for `address`; returns the score within the period when this event made it
    /// reach the threshold (the caller then records the block), nil otherwise.
    public func add(_ score: Int, for address: String, at now: Date, configuration: Configuration) -> Int? {
        guard score > 0, !configuration.neverBlock.allows(address) else { return nil }
        return state.withLock { state in
            var events = state.scores[address, default: []]
            events.removeAll { now.timeIntervalSince($0.0) >= configuration.period }
            events.append((now, score))
            let total = events.reduce(0) { $0 + $1.1 }
            if total >= configuration.threshold {
                state.scores[address] = nil
                if let network = IPNetwork(address) {
                    state.blocks.removeAll { $0.network == network }
                    state.blocks.append(Block(network: network, until: now.addingTimeInterval(configuration.blockTime)))
                }
                return total
            }
            state.scores[address] = events
            // Keep the table bounded: forget the quietest addresses when it grows large.
            if state.scores.count > 100_000 {
                state.scores = state.scores.filter { $0.value.contains { now.timeIntervalSince($0.0) < configuration.period / 2 } }
            }
            return nil
        }
    }
}

/// Counts open sessions, in total and per client address.
public final class ConnectionLimiter: Sendable {
    public enum Refusal: Error, Sendable {
        case tooMany
        case tooManyFromAddress
    }

    private let state = Mutex<(total: Int, perAddress: [String: Int])>((0, [:]))

    public init() {}

    /// Takes a slot, or says why not.
    public func acquire(_ address: String, maxTotal: Int, maxPerAddress: Int) -> Refusal? {
        state.withLock { state in
            if state.total >= maxTotal { return .tooMany }
            let current = state.perAddress[address, default: 0]
            if current >= maxPerAddress { return .tooManyFromAddress }
            state.total += 1
            state.perAddress[address] = current + 1
            return nil
        }
    }

    /// Takes a slot as a value that gives it back once, however often it is released.
    public func slot(_ address: String, maxTotal: Int, maxPerAddress: Int) -> Result<ConnectionSlot, Refusal> {
        if let refusal = acquire(address, maxTotal: maxTotal, maxPerAddress: maxPerAddress) { return .failure(refusal) }
        return .success(ConnectionSlot(limiter: self, address: address))
    }

    public func release(_ address: String) {
        state.withLock { state in
            state.total -= 1
            let remaining = state.perAddress[address, default: 1] - 1
            state.perAddress[address] = remaining > 0 ? remaining : nil
        }
    }
}

/// One connection's place in a `ConnectionLimiter`, given back by the first `release()`: when
/// the connection closes, before the session's record is written, so a client that reconnects
/// right after its last reply is not still counted.
public final class ConnectionSlot: Sendable {
    let limiter: ConnectionLimiter
    let address: String
    private let released = Mutex(false)

    init(limiter: ConnectionLimiter, address: String) {
        self.limiter = limiter
        self.address = address
    }

    public func release() {
        guard released.withLock({ was in defer { was = true }; return !was }) else { return }
        limiter.release(address)
    }
}
