/// Where a projection's tables live: a schema, and a prefix on each table name.
///
/// Live tables sit in the projection's own schema with no prefix (`mail.messages`); a rebuild
/// writes to a scratch schema (`mail_rebuild.messages`); a replay puts every projection in one
/// schema with the projection's name as prefix (`audit_2026.mailbox_messages`).
public struct ProjectionTarget: Sendable, Hashable, CustomStringConvertible {
    public let schema: String
    public let prefix: String

    public init(schema: String, prefix: String = "") throws {
        guard Self.isIdentifier(schema), prefix.isEmpty || Self.isIdentifier(prefix) else {
            throw ProjectionError.badSchemaName(schema + (prefix.isEmpty ? "" : " / " + prefix))
        }
        self.schema = schema
        self.prefix = prefix
    }

    /// `schema.prefixname`, safe to splice into SQL (both parts are checked identifiers).
    public func qualified(_ table: String) -> String { "\(schema).\(prefix)\(table)" }

    /// The table holding each projection's definition and checkpoint in this target.
    var stateTable: String { "\(schema).\(prefix)projection_state" }

    public var description: String { prefix.isEmpty ? schema : "\(schema).\(prefix)*" }

    /// Lower-case SQL identifiers only: `[a-z_][a-z0-9_]{0,47}`.
    public static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.utf8.first, name.utf8.count <= 48,
              first == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else { return false }
        return name.utf8.allSatisfy {
            $0 == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
        }
    }
}

public enum ProjectionError: Error, CustomStringConvertible {
    case badSchemaName(String)
    case unknownProjection(String)
    case schemaInUse(String)

    public var description: String {
        switch self {
        case .badSchemaName(let name): "not a usable schema name: \(name) (lower-case letters, digits, _)"
        case .unknownProjection(let name): "no projection named \(name)"
        case .schemaInUse(let name): "schema \(name) belongs to a live projection"
        }
    }
}
