/// A JSON document as read from the configuration file, before it is checked key by key.
enum JSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Leaf values by dotted path (`listeners.smtp`); objects are walked, everything else is a leaf.
    func leaves(prefix: String = "") -> [(path: String, value: JSONValue)] {
        guard case .object(let members) = self else { return [(prefix, self)] }
        return members.sorted { $0.key < $1.key }.flatMap { key, value in
            value.leaves(prefix: prefix.isEmpty ? key : "\(prefix).\(key)")
        }
    }
}
