import Crypto
import Foundation
import Projections
import Routing

/// RFC 8058 one-click unsubscribe links: the list and the member's address, signed with a key
/// derived from the server's secrets key, so a link takes off only the address it was made
/// for, and needs no stored state.
public enum ListUnsubscribeLink {
    public static let path = "/lists/unsubscribe"

    public static func make(base: String, list: String, address: String, key: SymmetricKey) -> String {
        let trimmed = base.hasSuffix("/") ? String(base.dropLast()) : base
        return "\(trimmed)\(path)?list=\(encode(list))&address=\(encode(address))&sig=\(signature(list: list, address: address, key: key))"
    }

    /// The list and address a link's query names, when its signature is right.
    public static func verify(list: String, address: String, signature given: String, key: SymmetricKey) -> Bool {
        let expected = Array(signature(list: list.lowercased(), address: address.lowercased(), key: key).utf8)
        let actual = Array(given.lowercased().utf8)
        guard expected.count == actual.count else { return false }
        return zip(expected, actual).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func signature(list: String, address: String, key: SymmetricKey) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Array("\(list.lowercased())\u{0}\(address.lowercased())".utf8), using: key)
        return Array(code).prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// Who is a member of a list, however the member was written: a local user's name stands for
/// each of their addresses.
public enum ListMembership {
    /// `user:<name>` for a local user's address (or a bare user name), else the lower-case
    /// address.
    public static func identity(_ address: String, router: Router) -> String {
        let address = address.lowercased()
        guard address.contains("@") else {
            return router.snapshot.users[address] != nil ? "user:\(address)" : address
        }
        return router.localUser(address).map { "user:\($0)" } ?? address
    }

    /// The member of `list` as stored that is `address`; nil when it is none.
    public static func storedMember(_ address: String, of list: String, router: Router) -> String? {
        let wanted = identity(address, router: router)
        return (router.snapshot.listMembers[list.lowercased()] ?? []).first { identity($0, router: router) == wanted }
    }
}

extension ListMembership {
    /// The same over a directory snapshot, with the default mappings.
    public static func storedMember(_ address: String, of list: String, snapshot: DirectorySnapshot) -> String? {
        storedMember(address, of: list, router: Router(snapshot: snapshot))
    }
}
