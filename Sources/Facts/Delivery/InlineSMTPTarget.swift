import Foundation
import MailCore

/// VPOP3's inline LAN forwarding target, written where a list member's address goes:
/// `SMTP:<address>@[<user>:<password>@]<server>[:<port>]`, as in
/// `SMTP:bob@example.com@fred:secret@192.168.1.1:587`. The message goes to `<address>` through
/// that server, the way a LAN forwarding rule sends it.
///
/// As stored, the password is a reference to the vault (`{sealed:<id>}`): the directory
/// seals it when the member is added, so the log never holds it.
public struct InlineSMTPTarget: Sendable, Equatable {
    public enum Password: Sendable, Equatable {
        case clear(String)
        case sealed(UUID)
    }

    public var address: String
    public var user: String?
    public var password: Password?
    public var server: MailSender.RelayServer

    public static let prefix = "SMTP:"

    /// Whether `text` is written as an inline target (and must parse as one).
    public static func isInline(_ text: String) -> Bool {
        text.count >= prefix.count && text.prefix(prefix.count).uppercased() == prefix
    }

    /// The target, or what is wrong with it (without repeating the text, which may hold a password).
    public static func parse(_ text: String) -> Result<InlineSMTPTarget, SettingProblem> {
        func fault(_ why: String) -> Result<InlineSMTPTarget, SettingProblem> { .failure(SettingProblem(why)) }
        guard isInline(text) else { return fault("an inline target starts with SMTP:") }
        let body = text.dropFirst(prefix.count)
        if body.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F || $0 == "<" || $0 == ">" }) {
            return fault("no spaces, control characters, < or > in an inline target")
        }
        let parts = body.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count >= 3 else { return fault("write SMTP:<address>@[<user>:<password>@]<server>[:<port>]") }
        guard !parts[0].isEmpty, parts[0].utf8.count <= 64 else { return fault("the address has no user part (or one over 64 bytes)") }
        guard !parts[1].isEmpty, (try? DomainName(String(parts[1]))) != nil else { return fault("the address's domain is not a domain name") }
        var target = InlineSMTPTarget(address: "\(parts[0])@\(parts[1].lowercased())", user: nil, password: nil,
                                      server: MailSender.RelayServer(host: "", port: 25))
        if parts.count > 3 {
            // A password may hold @; the user may not hold : or @.
            let credentials = parts[2..<(parts.count - 1)].joined(separator: "@")
            guard let colon = credentials.firstIndex(of: ":") else { return fault("the login is <user>:<password>") }
            let user = String(credentials[..<colon]), password = String(credentials[credentials.index(after: colon)...])
            guard !user.isEmpty else { return fault("the login has no user") }
            guard !password.isEmpty else { return fault("the login has no password") }
            target.user = user
            if password.hasPrefix("{sealed:"), password.hasSuffix("}") {
                guard let id = UUID(uuidString: String(password.dropFirst(8).dropLast())) else { return fault("a sealed password names no vault entry") }
                target.password = .sealed(id)
            } else {
                target.password = .clear(password)
            }
        }
        switch MailSender.parseRelay(String(parts[parts.count - 1])) {
        case .failure(let problem): return fault("the server: \(problem)")
        case .success(let server): target.server = server
        }
        return .success(target)
    }

    /// As the directory keeps it: the password, if any, as its vault reference.
    public var stored: String {
        var text = Self.prefix + address + "@"
        if let user, let password {
            switch password {
            case .clear: text += "\(user):(unsealed)@"
            case .sealed(let id): text += "\(user):{sealed:\(id.uuidString)}@"
            }
        }
        return text + server.description
    }

    /// Where mail for this target goes; `subject` is the vault subject of its sealed password.
    public func target(passwordSubject subject: String) -> LANTarget {
        var secret: UUID?
        if case .sealed(let id) = password { secret = id }
        return LANTarget(rule: nil, server: server.host, port: server.port, user: secret == nil ? nil : user,
                         passwordSecret: secret, vaultSubject: secret == nil ? nil : subject)
    }

    /// The vault subject of a list member's sealed password.
    public static func passwordSubject(list: String) -> String { "list:\(list.lowercased())" }
    public static let passwordPurpose = "smtp-target-password"
}
