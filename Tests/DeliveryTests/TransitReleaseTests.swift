@testable import Delivery
import Facts
import Projections
import Testing

/// Whose sent mail a queued message is, for `erase user` and per-user retention rules.
@Suite("The sender of mail sent out")
struct TransitReleaseTests {
    static let directory: DirectorySnapshot = {
        var snapshot = DirectorySnapshot()
        snapshot.domains = ["example.com", "*.example.org"]
        snapshot.users = ["alice": UserRecord(name: "alice"), "bob": UserRecord(name: "bob")]
        snapshot.aliases = [
            "sales@example.com": AliasTarget(kind: .user, name: "Alice"),
            "info": AliasTarget(kind: .user, name: "bob"),
            "void@example.com": AliasTarget(kind: .noOne, name: "No-one"),
        ]
        snapshot.lists = ["staff": ListRecord(name: "staff", kind: .distribution, isPublic: true, description: "")]
        return snapshot
    }()

    func sender(_ authUser: String?, _ returnPath: String) -> String? {
        TransitRelease.sender(authUser: authUser, returnPath: returnPath, in: Self.directory)
    }

    @Test("the user who logged in first; then the user a local return path names, through aliases; nobody for other domains, lists and the null path")
    func senders() {
        #expect(sender("Bob", "alice@example.com") == "bob")
        #expect(sender(nil, "Alice@Example.com") == "alice")
        #expect(sender("", "sales@example.com") == "alice")
        #expect(sender(nil, "info@mail.example.org") == "bob")
        // A user since removed keeps the implied `<user>@<local domain>` address.
        #expect(sender(nil, "carol@example.com") == "carol")
        #expect(sender(nil, "void@example.com") == nil)
        #expect(sender(nil, "staff@example.com") == nil)
        #expect(sender(nil, "alice@elsewhere.test") == nil)
        #expect(sender(nil, "") == nil)
        #expect(sender(nil, "@example.com") == nil)
    }
}
