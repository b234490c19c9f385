/// What an append expects of its stream, checked under the stream's row lock (optimistic
/// concurrency). Versions count from 0; an empty or missing stream has version -1.
public enum ExpectedVersion: Hashable, Sendable, CustomStringConvertible {
    /// Append whatever the stream holds.
    case any
    /// The stream must not exist or hold no events.
    case noStream
    /// The stream's last event must have this version.
    case exactly(Int64)

    var wireValue: Int64 {
        switch self {
        case .any: -2
        case .noStream: -1
        case .exactly(let version): version
        }
    }

    public var description: String {
        switch self {
        case .any: "any"
        case .noStream: "no stream"
        case .exactly(let version): "version \(version)"
        }
    }
}
