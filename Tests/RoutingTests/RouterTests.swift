import Facts
import Projections
import Routing
import Testing

/// The router over a directory built in memory: no database, no sockets.
@Suite("Router")
struct RouterTests {
    static var snapshot: DirectorySnapshot {
        var snapshot = DirectorySnapshot()
        snapshot.domains = ["example.com", "*.example.org"]
        for name in ["alice", "bob", "postmaster"] { snapshot.users[name] = UserRecord(name: name) }
        var carol = UserRecord(name: "carol")
        carol.maySendInternetMail = false
        snapshot.users["carol"] = carol
        snapshot.aliases["sales@example.com"] = AliasTarget(kind: .user, name: "bob")
        snapshot.aliases["info"] = AliasTarget(kind: .user, name: "alice")
        snapshot.aliases["away@example.com"] = AliasTarget(kind: .remote, name: "")
        snapshot.aliases["void"] = AliasTarget(kind: .noOne, name: "")
        snapshot.lists["team"] = ListRecord(name: "team", kind: .distribution, isPublic: false, description: "")
        snapshot.lists["news"] = ListRecord(name: "news", kind: .distribution, isPublic: true, description: "")
        snapshot.lists["inner"] = ListRecord(name: "inner", kind: .distribution, isPublic: false, description: "")
        snapshot.listMembers["team"] = ["alice", "victim@elsewhere.test", "inner@example.com", "alice@example.com"]
        snapshot.listMembers["inner"] = ["bob", "team@example.com"]
        snapshot.listMembers["news"] = ["carol", "reader@elsewhere.test"]
        return snapshot
    }

    static let outsider = RouteSender(user: nil, inRelayNetworks: false)
    static let alice = RouteSender(user: ("alice", true), inRelayNetworks: false)
    static let carol = RouteSender(user: ("carol", false), inRelayNetworks: false)

    @Test("users, aliases (exact, bare name, *REMOTE, No-one), wildcard domains and <Postmaster>")
    func localAddresses() {
        let router = Router(snapshot: Self.snapshot)
        #expect(router.route(localPart: "Alice", domain: "EXAMPLE.com", from: Self.outsider) == .local(user: "alice"))
        #expect(router.route(localPart: "sales", domain: "example.com", from: Self.outsider) == .local(user: "bob"))
        #expect(router.route(localPart: "info", domain: "mx.example.org", from: Self.outsider) == .local(user: "alice"))
        #expect(router.route(localPart: "away", domain: "example.com", from: Self.outsider) == .remote)
        #expect(router.route(localPart: "void", domain: "example.com", from: Self.outsider) == .discard)
        #expect(router.route(localPart: "nobody", domain: "example.com", from: Self.outsider) == .unknownLocal)
        #expect(router.route(localPart: "Postmaster", domain: "", from: Self.outsider) == .local(user: "postmaster"))
        // A quoted local part that needed its quotes is no user name.
        #expect(router.route(localPart: "alice", plainLocalPart: false, domain: "example.com", from: Self.outsider) == .unknownLocal)
        var strict = router
        strict.defaultMappings = false
        #expect(strict.route(localPart: "alice", domain: "example.com", from: Self.outsider) == .unknownLocal)
    }

    @Test("relaying: outsiders are refused, relay networks and users who may send internet mail are not")
    func relay() {
        let router = Router(snapshot: Self.snapshot)
        #expect(router.route(localPart: "x", domain: "elsewhere.test", from: Self.outsider) == .relayDenied)
        #expect(router.route(localPart: "x", domain: "elsewhere.test", from: RouteSender(user: nil, inRelayNetworks: true)) == .remote)
        #expect(router.route(localPart: "x", domain: "elsewhere.test", from: Self.alice) == .remote)
        #expect(router.route(localPart: "x", domain: "elsewhere.test", from: Self.carol) == .internetMailNotAllowed)
        // Address literals are never local.
        #expect(router.local(localPart: "alice", domain: "[127.0.0.1]") == nil)
        var shared = router
        shared.unknownLocalAsOutgoing = true
        #expect(shared.route(localPart: "nobody", domain: "example.com", from: Self.alice) == .remote)
        #expect(shared.route(localPart: "nobody", domain: "example.com", from: Self.outsider) == .unknownLocal)
    }

    @Test("a members-only list is no address for outsiders; its remote members are withheld unless allowed")
    func lists() {
        let router = Router(snapshot: Self.snapshot)
        #expect(router.route(localPart: "team", domain: "example.com", from: Self.outsider) == .unknownLocal)
        #expect(router.route(localPart: "team", domain: "example.com", from: Self.alice) == .list("team"))
        #expect(router.route(localPart: "news", domain: "example.com", from: Self.outsider) == .list("news"))

        let closed = router.expand(list: "team", address: "team@example.com", notify: [], originalRecipient: nil, remoteAllowed: false)
        #expect(closed.recipients.map(\.user) == ["alice", "bob"])
        #expect(closed.withheld == ["victim@elsewhere.test"])

        let open = router.expand(list: "team", address: "team@example.com", notify: ["FAILURE"], originalRecipient: nil,
                                 remoteAllowed: true)
        let remote = open.recipients.filter { $0.route == .remote }
        #expect(remote.map(\.address) == ["victim@elsewhere.test"])
        // The list, never the poster, is the envelope sender of a remote member's copy.
        #expect(remote.first?.envelopeSender == "team@example.com")
        #expect(remote.first?.originalRecipient == "rfc822;team@example.com")
        #expect(open.withheld.isEmpty)
    }

    @Test("users send as their own addresses and lists they belong to, or as anyone when allowed")
    func sendingAs() {
        let router = Router(snapshot: Self.snapshot)
        let alice = UserRecord(name: "alice")
        #expect(router.may(alice, sendAs: "alice@example.com", anySender: []))
        #expect(router.may(alice, sendAs: "info@example.com", anySender: []))
        #expect(router.may(alice, sendAs: "team@example.com", anySender: []))
        #expect(!router.may(alice, sendAs: "bob@example.com", anySender: []))
        #expect(!router.may(alice, sendAs: "root@vm", anySender: []))
        #expect(router.may(alice, sendAs: "root@vm", anySender: ["Alice"]))
        #expect(router.may(alice, sendAs: "root@vm", anySender: ["*"]))
    }
}

extension RouterTests {
    @Test("a reply to a collector's notice, collector-fetch+TOKEN at a local domain, is taken and discarded; elsewhere it is relaying")
    func collectorFetchReplies() {
        let router = Router(snapshot: Self.snapshot)
        #expect(router.route(localPart: "Collector-Fetch+0123abcd", domain: "example.com", from: Self.outsider) == .discard)
        #expect(router.route(localPart: "collector-fetch+x", domain: "far.example", from: Self.outsider) == .relayDenied)
        #expect(router.route(localPart: "collector-fetch", domain: "example.com", from: Self.outsider) == .unknownLocal)
    }
}
