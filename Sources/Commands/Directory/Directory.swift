import EventLog
import Facts
import Foundation
import Logging
import PostgresNIO
import Projections

/// The directory commands: domains, users, aliases, groups and lists, for the CLI and the web
/// admin. Each change is checked against the live `directory.*` tables read in its own
/// transaction and appended to `directory-main` under optimistic concurrency (retried on
/// conflict), with the mail account opened or closed in the same transaction.
public struct Directory: Sendable {
    public let engine: ProjectionEngine
    public let mail: MailStore
    let settings: Settings
    let passwordCost: Credentials.Cost
    /// Where CRAM-MD5 and APOP secrets are sealed; nil when no key directory is at hand (then
    /// users cannot be enabled for either).
    public let vault: SecretVault?
    /// Who is making the changes, written into each fact: `cli:<user>`, `admin:<user> from <address>`.
    public let actor: String?

    public init(engine: ProjectionEngine, passwordCost: Credentials.Cost = .init(), vault: SecretVault? = nil, actor: String? = nil) {
        self.actor = actor
        self.engine = engine
        self.mail = MailStore(engine: engine)
        self.settings = Settings(engine: engine)
        self.passwordCost = passwordCost
        self.vault = vault
    }

    var logger: Logger { engine.logger }

    /// Runs `body` with the directory stream's expected version, appending what it returns.
    @discardableResult
    func change<T: Sendable>(in joined: ProjectionTransaction? = nil,
                             _ body: @Sendable (ProjectionTransaction, DirectorySnapshot) async throws -> ([any Event], T)) async throws -> T {
        if let joined { return try await change(joined, body) }
        return try await engine.transaction { try await change($0, body) }
    }

    private func change<T: Sendable>(_ transaction: ProjectionTransaction,
                                     _ body: @Sendable (ProjectionTransaction, DirectorySnapshot) async throws -> ([any Event], T)) async throws -> T {
        let expected = try await transaction.expectedVersion(of: DirectoryStream.main)
        let snapshot = try await DirectorySnapshot.load(on: transaction.connection, logger: logger)
        let (events, result) = try await body(transaction, snapshot)
        if !events.isEmpty {
            let attributed = events.map { event -> any Event in
                guard var fact = event as? any DirectoryFact else { return event }
                fact.actor = actor
                return fact
            }
            try await transaction.append(attributed.map { PendingEvent($0) }, to: DirectoryStream.main, expectedVersion: expected)
        }
        return result
    }

    public func snapshot() async throws -> DirectorySnapshot {
        try await DirectorySnapshot.load(from: engine)
    }

    // MARK: Domains

    public func addDomain(_ pattern: String) async throws {
        let pattern = pattern.lowercased()
        guard DirectoryRules.isDomainPattern(pattern) else { throw DirectoryError.invalid("domain", pattern) }
        try await change { _, directory in
            guard !directory.domains.contains(pattern) else { throw DirectoryError.exists("domain", pattern) }
            var events: [any Event] = [DomainAdded(pattern: pattern)]
            // The first plain domain becomes the default one.
            if directory.defaultDomain == nil && !pattern.contains(where: { $0 == "*" || $0 == "?" }) {
                events.append(DefaultDomainSet(domain: pattern))
            }
            return (events, ())
        }
    }

    public func removeDomain(_ pattern: String) async throws {
        let pattern = pattern.lowercased()
        try await change { _, directory in
            guard directory.domains.contains(pattern) else { throw DirectoryError.notFound("domain", pattern) }
            guard directory.defaultDomain != pattern else { throw DirectoryError.inUse("domain \(pattern) is the default domain") }
            return ([DomainRemoved(pattern: pattern)], ())
        }
    }

    /// The default domain must be a single valid domain, and is made local if it is not already.
    public func setDefaultDomain(_ domain: String) async throws {
        let domain = domain.lowercased()
        guard DirectoryRules.isDomainPattern(domain), !domain.contains(where: { $0 == "*" || $0 == "?" }) else {
            throw DirectoryError.invalid("default domain", domain)
        }
        try await change { _, directory in
            var events: [any Event] = []
            if !directory.domains.contains(domain) { events.append(DomainAdded(pattern: domain)) }
            events.append(DefaultDomainSet(domain: domain))
            return (events, ())
        }
    }

    // MARK: Users

    /// Creates a user and opens their mail account. Without a password the user cannot log in
    /// until one is set.
    public func createUser(_ record: UserRecord, password: String?) async throws {
        guard DirectoryRules.isUserName(record.name) else { throw DirectoryError.invalid("user name", record.name) }
        try record.checkText()
        var hashes: Credentials?
        if let password {
            try await checkPassword(password)
            hashes = try Credentials.make(password: password, cost: passwordCost)
        } else if record.credentials == nil && (record.cramMD5Enabled || record.apopEnabled) {
            throw DirectoryError.needsPassword(record.name)
        }
        let prepared = hashes
        try await change { transaction, directory in
            var user = record
            try directory.checkNameFree(user.name)
            try directory.checkAssistants(user.assistants)
            if let prepared, let password {
                user.credentials = try await sealSecrets(prepared, password: password, for: user, on: transaction.connection)
            }
            try await mail.openAccount(user.id, in: transaction)
            return ([UserCreated(user: user)], ())
        }
    }

    /// Changes a user's settings; `body` may not rename the user. Secrets the change stops
    /// using (CRAM-MD5 or APOP switched off) are deleted with it.
    public func updateUser(_ name: String, in joined: ProjectionTransaction? = nil,
                           _ body: @escaping @Sendable (inout UserRecord) throws -> Void) async throws {
        try await change(in: joined) { transaction, directory in
            guard var user = directory.users[name.lowercased()] else { throw DirectoryError.notFound("user", name) }
            let original = user
            try body(&user)
            guard user.id == original.id else { throw DirectoryError.invalid("user rename", user.name) }
            try user.checkText()
            try directory.checkAssistants(user.assistants)
            // A CRAM-MD5 or APOP secret can only be made from the password itself.
            if user.cramMD5Enabled && user.credentials?.cramMD5Secret == nil { throw DirectoryError.needsPassword(name) }
            if user.apopEnabled && user.credentials?.apopSecret == nil { throw DirectoryError.needsPassword(name) }
            if !user.cramMD5Enabled { user.credentials?.cramMD5Secret = nil }
            if !user.apopEnabled { user.credentials?.apopSecret = nil }
            let kept = Set([user.credentials?.cramMD5Secret, user.credentials?.apopSecret].compactMap { $0 })
            let dropped = [original.credentials?.cramMD5Secret, original.credentials?.apopSecret].compactMap { $0 }
                .filter { !kept.contains($0) }
            if let vault, !dropped.isEmpty { try await vault.delete(dropped, on: transaction.connection) }
            return (user == original ? [] : [UserChanged(user: user)], ())
        }
    }

    public func setPassword(_ name: String, password: String, in joined: ProjectionTransaction? = nil) async throws {
        try await checkPassword(password)
        let hashes = try Credentials.make(password: password, cost: passwordCost)
        try await change(in: joined) { transaction, directory in
            guard var user = directory.users[name.lowercased()] else { throw DirectoryError.notFound("user", name) }
            let old = [user.credentials?.cramMD5Secret, user.credentials?.apopSecret].compactMap { $0 }
            user.credentials = try await sealSecrets(hashes, password: password, for: user, on: transaction.connection)
            if let vault, !old.isEmpty { try await vault.delete(old, on: transaction.connection) }
            return ([UserChanged(user: user)], ())
        }
    }

    /// `hashes` with the CRAM-MD5 context and the APOP password sealed in the vault when the
    /// user is enabled for them, inside the transaction that records the change.
    func sealSecrets(_ hashes: Credentials, password: String, for user: UserRecord,
                     on connection: PostgresConnection) async throws -> Credentials {
        var credentials = hashes
        guard user.cramMD5Enabled || user.apopEnabled else { return credentials }
        guard let vault else { throw DirectoryError.noKeyDirectory }
        let bytes = Array(password.utf8)
        if user.cramMD5Enabled {
            credentials.cramMD5Secret = try await vault.store(Credentials.cramContextBytes(bytes), purpose: Credentials.cramMD5Purpose,
                                                              subject: user.id, on: connection)
        }
        if user.apopEnabled {
            credentials.apopSecret = try await vault.store(bytes, purpose: Credentials.apopPurpose, subject: user.id, on: connection)
        }
        return credentials
    }

    /// Removes a user, the aliases that point at them, their group and list memberships, their
    /// mail and their sealed secrets. At least one administrator must remain.
    public func removeUser(_ name: String) async throws {
        let id = name.lowercased()
        try await change { transaction, directory in
            guard directory.users[id] != nil else { throw DirectoryError.notFound("user", name) }
            return try await removal(of: id, in: transaction, directory: directory)
        }
    }

    /// The facts that remove user `id` (and their aliases, memberships and mail), with the mail
    /// account closed and their secrets deleted in `transaction`.
    func removal(of id: String, in transaction: ProjectionTransaction,
                 directory: DirectorySnapshot) async throws -> ([any Event], Void) {
            guard let user = directory.users[id] else { throw DirectoryError.notFound("user", id) }
            if user.admin && directory.users.values.filter(\.admin).count == 1 {
                throw DirectoryError.inUse("\(user.name) is the last administrator")
            }
            var events: [any Event] = []
            for (address, target) in directory.aliases.sorted(by: { $0.key < $1.key })
            where target.kind == .user && target.name.lowercased() == id {
                events.append(AliasRemoved(address: address))
            }
            for (group, members) in directory.groupMembers.sorted(by: { $0.key < $1.key }) where members.contains(id) {
                events.append(GroupMemberRemoved(group: group, userID: id))
            }
            for (list, members) in directory.listMembers.sorted(by: { $0.key < $1.key }) {
                for member in members.sorted() where member.lowercased() == id {
                    events.append(ListMemberRemoved(list: list, address: member))
                }
            }
            events.append(UserRemoved(userID: id))
            try await mail.closeAccount(id, in: transaction)
            try await transaction.connection.query("DELETE FROM vault.secrets WHERE subject = \(id)", logger: logger)
            return (events, ())
    }

    /// Checks a password given in clear against the user's credentials; nil when there is no such user.
    public func authenticate(_ name: String, password: String) async throws -> UserRecord? {
        let directory = try await snapshot()
        guard let user = directory.users[name.lowercased()], let credentials = user.credentials,
              credentials.verify(password: password) else { return nil }
        return user
    }

    func checkPassword(_ password: String) async throws {
        let minimum = try await settings.value(SettingKey.passwordMinimumLength)
        let maximum = try await settings.value(SettingKey.passwordMaximumLength)
        guard password.count >= minimum, password.count <= maximum else {
            throw DirectoryError.weakPassword("a password needs \(minimum) to \(maximum) characters")
        }
        guard !password.contains(where: { $0.isNewline || $0 == "\0" }) else {
            throw DirectoryError.weakPassword("a password cannot contain line breaks")
        }
    }
}
