import CZstd
import Foundation
import Synchronization

/// Errors from zstd, with the library's own explanation.
public enum ZstdError: Error, CustomStringConvertible {
    case compressionFailed(String)
    case decompressionFailed(String)
    case unknownContentSize
    case contentTooLarge(size: UInt64, limit: Int)
    case dictionaryRejected(String)
    case trainingFailed(String)

    public var description: String {
        switch self {
        case .compressionFailed(let reason): "zstd compression failed: \(reason)"
        case .decompressionFailed(let reason): "zstd decompression failed: \(reason)"
        case .unknownContentSize: "zstd frame does not declare its content size"
        case .contentTooLarge(let size, let limit): "zstd frame declares \(size) bytes, over the limit of \(limit)"
        case .dictionaryRejected(let reason): "zstd dictionary rejected: \(reason)"
        case .trainingFailed(let reason): "zstd dictionary training failed: \(reason)"
        }
    }
}

/// A trained dictionary, prepared once for compression and once for decompression.
/// zstd's digested dictionaries are read-only after creation and safe to share between threads.
public final class ZstdDictionary: @unchecked Sendable {
    public let id: Int32
    public let bytes: [UInt8]
    fileprivate let compressionDictionary: OpaquePointer
    fileprivate let decompressionDictionary: OpaquePointer

    public init(id: Int32, bytes: [UInt8], level: Int32) throws {
        guard !bytes.isEmpty,
              let cdict = bytes.withUnsafeBytes({ ZSTD_createCDict($0.baseAddress, $0.count, level) }) else {
            throw ZstdError.dictionaryRejected("dictionary \(id) could not be prepared for compression")
        }
        guard let ddict = bytes.withUnsafeBytes({ ZSTD_createDDict($0.baseAddress, $0.count) }) else {
            ZSTD_freeCDict(cdict)
            throw ZstdError.dictionaryRejected("dictionary \(id) could not be prepared for decompression")
        }
        self.id = id
        self.bytes = bytes
        self.compressionDictionary = cdict
        self.decompressionDictionary = ddict
    }

    deinit {
        ZSTD_freeCDict(compressionDictionary)
        ZSTD_freeDDict(decompressionDictionary)
    }
}

/// One-shot zstd compression and bounded decompression.
public enum Zstd {
    /// Compresses `input`; the frame records its content size so decompression can be bounded.
    public static func compress(_ input: some ContiguousBytes, level: Int32, dictionary: ZstdDictionary? = nil) throws -> [UInt8] {
        try input.withUnsafeBytes { source in
            guard let context = compressionContexts.take() else { throw ZstdError.compressionFailed("out of memory") }
            defer { compressionContexts.give(back: context) }
            let capacity = ZSTD_compressBound(source.count)
            var output = [UInt8](repeating: 0, count: capacity)
            let written = output.withUnsafeMutableBytes { destination in
                if let dictionary {
                    ZSTD_compress_usingCDict(context, destination.baseAddress, capacity,
                                             source.baseAddress, source.count, dictionary.compressionDictionary)
                } else {
                    ZSTD_compressCCtx(context, destination.baseAddress, capacity, source.baseAddress, source.count, level)
                }
            }
            if ZSTD_isError(written) != 0 { throw ZstdError.compressionFailed(errorName(written)) }
            output.removeSubrange(written...)
            return output
        }
    }

    /// Decompresses one frame, refusing frames that declare more than `limit` bytes.
    public static func decompress(_ input: some ContiguousBytes, dictionary: ZstdDictionary? = nil, limit: Int) throws -> [UInt8] {
        try input.withUnsafeBytes { source in
            let declared = ZSTD_getFrameContentSize(source.baseAddress, source.count)
            // ZSTD_CONTENTSIZE_ERROR is (0ULL - 2), ZSTD_CONTENTSIZE_UNKNOWN is (0ULL - 1).
            if declared == UInt64.max - 1 { throw ZstdError.decompressionFailed("not a zstd frame") }
            if declared == UInt64.max { throw ZstdError.unknownContentSize }
            guard declared <= UInt64(limit) else { throw ZstdError.contentTooLarge(size: declared, limit: limit) }
            let size = Int(declared)
            if size == 0 { return [] }
            guard let context = decompressionContexts.take() else { throw ZstdError.decompressionFailed("out of memory") }
            defer { decompressionContexts.give(back: context) }
            var output = [UInt8](repeating: 0, count: size)
            let written = output.withUnsafeMutableBytes { destination in
                if let dictionary {
                    ZSTD_decompress_usingDDict(context, destination.baseAddress, size,
                                               source.baseAddress, source.count, dictionary.decompressionDictionary)
                } else {
                    ZSTD_decompressDCtx(context, destination.baseAddress, size, source.baseAddress, source.count)
                }
            }
            if ZSTD_isError(written) != 0 { throw ZstdError.decompressionFailed(errorName(written)) }
            guard written == size else {
                throw ZstdError.decompressionFailed("frame declared \(size) bytes but held \(written)")
            }
            return output
        }
    }

    /// Trains a dictionary of at most `capacity` bytes from samples (`ZDICT_trainFromBuffer`).
    public static func trainDictionary(samples: [[UInt8]], capacity: Int) throws -> [UInt8] {
        guard !samples.isEmpty else { throw ZstdError.trainingFailed("no samples") }
        let joined = samples.flatMap { $0 }
        let sizes = samples.map { $0.count }
        var dictionary = [UInt8](repeating: 0, count: capacity)
        let written = dictionary.withUnsafeMutableBytes { destination in
            joined.withUnsafeBytes { source in
                sizes.withUnsafeBufferPointer { sizes in
                    ZDICT_trainFromBuffer(destination.baseAddress, capacity, source.baseAddress,
                                          sizes.baseAddress, UInt32(sizes.count))
                }
            }
        }
        if ZDICT_isError(written) != 0 {
            throw ZstdError.trainingFailed(String(cString: ZDICT_getErrorName(written)))
        }
        dictionary.removeSubrange(written...)
        return dictionary
    }

    /// Contexts are costly to create (tables of several hundred KiB) and cheap to reuse.
    private static let compressionContexts = ContextPool(create: { ZSTD_createCCtx() }, free: { ZSTD_freeCCtx($0) })
    private static let decompressionContexts = ContextPool(create: { ZSTD_createDCtx() }, free: { ZSTD_freeDCtx($0) })

    private static func errorName(_ code: Int) -> String {
        String(cString: ZSTD_getErrorName(code))
    }
}

/// A few idle zstd contexts kept for reuse; each is used by one caller at a time.
private final class ContextPool: @unchecked Sendable {
    /// A context owned by whoever holds this value.
    private struct Owned: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    private let contexts = Mutex<[Owned]>([])
    private let create: () -> OpaquePointer?
    private let free: (OpaquePointer) -> Void
    private let limit = 16

    init(create: @escaping () -> OpaquePointer?, free: @escaping (OpaquePointer) -> Void) {
        self.create = create
        self.free = free
    }

    func take() -> OpaquePointer? {
        contexts.withLock { $0.popLast() }?.pointer ?? create()
    }

    func give(back context: OpaquePointer) {
        let kept = contexts.withLock { contexts -> Bool in
            guard contexts.count < limit else { return false }
            contexts.append(Owned(pointer: context))
            return true
        }
        if !kept { free(context) }
    }
}
