import Commands
import EventLog
import Facts
import Foundation
@testable import Projections
import TestSupport
import Testing

@Suite("Directory")
struct DirectoryTests {
    @Test("users follow VPOP3's name rules, get a mail account, and authenticate by password only")
    func users() async throws {
        try await withDirectory { directory, engine in
            try await directory.addDomain("example.com")
            try await directory.addDomain("*.example.org")
            #expect(try await directory.snapshot().defaultDomain == "example.com")
            var alice = UserRecord(name: "Alice.Smith")
            alice.admin = true
            try await directory.createUser(alice, password: "correct horse")
            await #expect(throws: DirectoryError.exists("user", "alice.smith")) {
                try await directory.createUser(UserRecord(name: "alice.smith"), password: "secret1")
            }
            await #expect(throws: DirectoryError.invalid("user name", "bad name")) {
                try await directory.createUser(UserRecord(name: "bad name"), password: "secret1")
            }
            await #expect(throws: DirectoryError.weakPassword("a password needs 5 to 128 characters")) {
                try await directory.createUser(UserRecord(name: "bob"), password: "abc")
            }
            #expect(try await directory.authenticate("ALICE.SMITH", password: "correct horse")?.admin == true)
            #expect(try await directory.authenticate("alice.smith", password: "wrong") == nil)
            #expect(try await directory.mail.reader.mailboxes("alice.smith").count == 6)
            await #expect(throws: DirectoryError.inUse("Alice.Smith is the last administrator")) {
                try await directory.removeUser("alice.smith")
            }
            #expect(DirectoryRules.matches(pattern: "*.example.org", domain: "mail.example.org"))
            #expect(!DirectoryRules.matches(pattern: "*.example.org", domain: "example.org"))
            #expect(DirectoryRules.matches(pattern: "exampl?.com", domain: "EXAMPLE.com"))

            // Stored credentials: no clear text anywhere in the log or the tables.
            let rows = try await engine.client.query("SELECT scrypt || scram_sha256 FROM directory.users")
            for try await text in rows.decode(String.self) { #expect(!text.contains("correct horse")) }
        }
    }

    @Test("credentials verify PLAIN passwords, hold SCRAM-SHA-256 keys in RFC 5803 form, and check RFC 2195 CRAM-MD5")
    func credentialFormats() throws {
        // RFC 2195 §2: user tim, password tanstaaftanstaaf.
        var credentials = try Credentials.make(password: "tanstaaftanstaaf", cost: testCost)
        credentials.cramMD5Context = Credentials.cramContext(Array("tanstaaftanstaaf".utf8))
        #expect(credentials.verifyCRAMMD5(challenge: Array("<1896.697170952@postoffice.reston.mci.net>".utf8),
                                          response: "b913a602c7eda7a495b4e6e7334d3890"))
        #expect(!credentials.verifyCRAMMD5(challenge: Array("<other@challenge>".utf8), response: "b913a602c7eda7a495b4e6e7334d3890"))
        #expect(credentials.verify(password: "tanstaaftanstaaf"))
        let keys = try #require(credentials.scramKeys)
        #expect(keys.iterations == 4_096 && keys.storedKey.count == 32 && keys.serverKey.count == 32)
        #expect(try Credentials.make(password: "x1234", cost: testCost).cramMD5Secret == nil)
        // An unknown user's decoy never matches, whatever the password.
        #expect(!Credentials.decoy(logN: 10).verify(password: ""))
        #expect(!Credentials.decoy(logN: 10).verify(password: "x1234"))
    }

    @Test("aliases, groups and lists are validated and cleaned up with their targets")
    func aliasesGroupsLists() async throws {
        try await withDirectory { directory, _ in
            var admin = UserRecord(name: "postmaster")
            admin.admin = true
            try await directory.createUser(admin, password: "admin1")
            try await directory.createUser(UserRecord(name: "bob"), password: "secret1")
            try await directory.addAlias("sales@example.com", target: "bob")
            try await directory.addAlias("old", target: "*REMOTE")
            try await directory.addAlias("void", target: "No-one")
            await #expect(throws: DirectoryError.notFound("user or list", "nobody")) {
                try await directory.addAlias("x", target: "nobody")
            }
            try await directory.createGroup("Sales")
            await #expect(throws: DirectoryError.exists("user", "bob")) { try await directory.createGroup("bob") }
            try await directory.createGroup("Support")
            try await directory.addGroupMember("sales", user: "bob")
            try await directory.addGroupMember("support", user: "bob")
            var snapshot = try await directory.snapshot()
            #expect(snapshot.members(ofGroup: "sales") == [] && snapshot.members(ofGroup: "support") == ["bob"])
            #expect(snapshot.members(ofGroup: "Admins") == ["postmaster"])
            try await directory.createList(ListRecord(name: "team", kind: .distribution, isPublic: false, description: ""))
            try await directory.addListMember("team", address: "bob")
            try await directory.addListMember("team", address: "partner@example.net")
            try await directory.addAlias("all@example.com", target: "team")
            try await directory.removeUser("bob")
            snapshot = try await directory.snapshot()
            #expect(snapshot.aliases["sales@example.com"] == nil && snapshot.members(ofGroup: "support") == [])
            #expect(snapshot.listMembers["team"] == ["partner@example.net"])
            try await directory.removeList("team")
            #expect(try await directory.snapshot().aliases["all@example.com"] == nil)
        }
    }

    @Test("CSV export, import into an empty store, export again: the same file")
    func csvRoundTrip() async throws {
        let csv = try await withDirectory { directory, _ in
            var admin = UserRecord(name: "Postmaster")
            admin.admin = true
            admin.comments = "main admin, \"the\" boss"
            try await directory.createUser(admin, password: "admin1")
            var carol = UserRecord(name: "carol")
            carol.forwardTo = "carol@home.example"
            carol.useForwarding = true
            carol.inEveryone = false
            try await directory.createUser(carol, password: "secret1")
            var dave = UserRecord(name: "dave")
            dave.assistants = ["carol", "temp@example.net"]
            dave.sendOnlyToAssistant = true
            dave.replyTo = "d@example.com"
            try await directory.createUser(dave, password: nil)
            return UserCSV.export(Array(try await directory.snapshot().users.values))
        }
        #expect(csv.hasPrefix("User Id,Password,Admin,Reply To,Assistant"))
        let again = try await withDirectory { directory, _ in
            let dry = try await directory.importUsers(csv: csv, dryRun: true)
            #expect(dry.created.count == 3)
            #expect(try await directory.snapshot().users.isEmpty)
            _ = try await directory.importUsers(csv: csv, dryRun: false)
            #expect(try await directory.authenticate("carol", password: "secret1") != nil)
            return UserCSV.export(Array(try await directory.snapshot().users.values))
        }
        #expect(again == csv)
    }

    @Test("CSV import without a header merges, and errors name the row")
    func csvImportErrors() async throws {
        try await withDirectory { directory, _ in
            let report = try await directory.importUsers(csv: "erin,pass123,1,,,0,,0,hello,1\nfrank,pass456,0\n", dryRun: false)
            #expect(report.created == ["erin", "frank"])
            let merged = try await directory.importUsers(csv: "User Id,Comments\nfrank,now with comments\n", dryRun: false)
            #expect(merged.updated == ["frank"])
            #expect(try await directory.snapshot().users["frank"]?.comments == "now with comments")
            #expect(try await directory.authenticate("frank", password: "pass456") != nil)
            do {
                _ = try await directory.importUsers(csv: "gina,pass789,0\nbad user,pass789,0\n", dryRun: false)
                Issue.record("import accepted a bad row")
            } catch let error as UserCSV.ImportError {
                #expect(error.row == 2)
            }
        }
    }

    @Test("settings are typed, recorded with the actor, and seen live")
    func settings() async throws {
        try await withDirectory { _, engine in
            let settings = Settings(engine: engine)
            let writer = SettingWriter(engine: engine)
            let live = LiveSettings(store: engine.store, logger: TestDatabase.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await live.run() }
                var changes = live.changes().makeAsyncIterator()
                #expect(try await settings.value(SettingKey.passwordMinimumLength) == 5)
                try await writer.set("password.min_length", to: "8", actor: "admin")
                #expect(try await settings.value(SettingKey.passwordMinimumLength) == 8)
                await #expect(throws: SettingProblem.self) { try await writer.set("password.min_length", to: "0", actor: "admin") }
                await #expect(throws: SettingProblem.self) { try await writer.set("no.such", to: "1", actor: "admin") }
                let change = await changes.next()
                #expect(change?.key == "password.min_length" && change?.json == "8")
                #expect(live.value(SettingKey.passwordMinimumLength) == 8)
                group.cancelAll()
            }
        }
    }

    @Test("a server started after a change keeps it while an open transaction holds the log's visible end before it")
    func settingsLoadedAheadOfTheFollower() async throws {
        try await withDirectory { _, engine in
            let writer = SettingWriter(engine: engine)
            try await writer.set("password.min_length", to: "8", actor: "admin")
            try await engine.client.withConnection { holder in
                // A transaction with an id, open across the next change: readers of the log
                // see nothing from that change on until it ends.
                try await holder.query("BEGIN", logger: TestDatabase.logger)
                try await holder.query("SELECT pg_current_xact_id()", logger: TestDatabase.logger)
                try await writer.set("password.min_length", to: "9", actor: "admin")
                let live = LiveSettings(store: engine.store, logger: TestDatabase.logger)
                try await live.load(from: Settings(engine: engine))
                #expect(live.value(SettingKey.passwordMinimumLength) == 9)
                try await live.catchUp()
                #expect(live.value(SettingKey.passwordMinimumLength) == 9, "the change to 8 is older than the one loaded")
                try await holder.query("ROLLBACK", logger: TestDatabase.logger)
                try await live.catchUp()
                #expect(live.value(SettingKey.passwordMinimumLength) == 9)
                try await writer.set("password.min_length", to: "10", actor: "admin")
                // Other tests' transactions on the cluster may hold the visible end back a moment.
                try await eventually(within: .seconds(30), "the newer change taken in") { () -> Bool? in
                    try await live.catchUp()
                    return live.value(SettingKey.passwordMinimumLength) == 10 ? true : nil
                }
            }
        }
    }
}
