import Foundation
import MailCore

/// A runtime setting: a dotted name, a type, a default and a rule. Values travel as JSON.
public struct SettingKey<Value: Codable & Sendable & Equatable>: Sendable {
    public let name: String
    public let defaultValue: Value
    public let summary: String
    public let check: @Sendable (Value) -> String?

    init(_ name: String, default defaultValue: Value, _ summary: String, check: @escaping @Sendable (Value) -> String? = { _ in nil }) {
        self.name = name
        self.defaultValue = defaultValue
        self.summary = summary
        self.check = check
    }

    var erased: AnySettingKey {
        AnySettingKey(name: name, typeName: "\(Value.self)".lowercased(), summary: summary,
                      defaultJSON: SettingJSON.encode(defaultValue)) { text in
            guard let value = SettingJSON.decode(Value.self, from: text) else { return .failure("expects \(Value.self)") }
            if let problem = self.check(value) { return .failure(problem) }
            return .success(SettingJSON.encode(value))
        }
    }
}

/// A setting key with its type erased, for listing and for values given as text.
public struct AnySettingKey: Sendable {
    public let name: String
    public let typeName: String
    public let summary: String
    public let defaultJSON: String
    /// Canonical JSON for a value given as JSON (or, for strings, as bare text), or why it is refused.
    public let normalise: @Sendable (String) -> Result<String, SettingProblem>
}

public struct SettingProblem: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Result where Failure == SettingProblem {
    static func failure(_ text: String) -> Self { .failure(SettingProblem(text)) }
}

extension SettingKey where Value == Int {
    static func count(_ name: String, default value: Int, _ summary: String, range: ClosedRange<Int>) -> SettingKey<Int> {
        SettingKey(name, default: value, summary) { range.contains($0) ? nil : "must be in \(range.lowerBound)...\(range.upperBound)" }
    }
}


extension SettingKey where Value == Int {
    public static var passwordMinimumLength: SettingKey<Int> {
        .count("password.min_length", default: 5, "Shortest password a user may be given", range: 1...128)
    }
    public static var passwordMaximumLength: SettingKey<Int> {
        .count("password.max_length", default: 128, "Longest password a user may be given", range: 8...1024)
    }
    public static var scryptCost: SettingKey<Int> {
        .count("security.scrypt_log_n", default: 15, "log2 of scrypt's N for new passwords", range: 10...20)
    }
    public static var maxMessageSize: SettingKey<Int> {
        .count("smtp.max_message_size", default: 50 * 1024 * 1024, "Largest message accepted over SMTP, in bytes",
               range: 1_024...2_147_483_647)
    }
}

extension SettingKey where Value == Int {
    public static var smtpMaxSessions: SettingKey<Int> {
        .count("smtp.max_sessions", default: 200, "Most SMTP sessions at once, all listeners together", range: 1...100_000)
    }
    public static var smtpMaxSessionsPerIP: SettingKey<Int> {
        .count("smtp.max_sessions_per_ip", default: 20, "Most SMTP sessions at once from one client address", range: 1...100_000)
    }
    /// RFC 5321 §4.5.3.1.8: at least 100.
    public static var smtpMaxRecipients: SettingKey<Int> {
        .count("smtp.max_recipients", default: 500, "Most recipients of one message", range: 100...100_000)
    }
    /// RFC 5321 §4.5.3.2.7: the server waits at least 5 minutes for the next command.
    public static var smtpIdleTimeout: SettingKey<Int> {
        .count("smtp.idle_timeout_seconds", default: 300, "Seconds an SMTP client may stay silent", range: 5...3_600)
    }
    public static var smtpMaxAuthFailures: SettingKey<Int> {
        .count("smtp.max_auth_failures", default: 3, "Failed AUTH attempts before the session is closed", range: 1...100)
    }
    public static var smtpMaxHops: SettingKey<Int> {
        .count("smtp.max_hops", default: 50, "Most Received: lines a message may carry (mail loops)", range: 5...500)
    }
    public static var smtpGreetingPause: SettingKey<Int> {
        .count("smtp.greeting_pause_ms", default: 0,
               "Milliseconds to wait before the greeting; a client talking first is refused", range: 0...30_000)
    }
    public static var ipsBadAuthScore: SettingKey<Int> {
        .count("ips.bad_auth_score", default: 50, "IPS score for a failed SMTP authentication", range: 0...100_000)
    }
    public static var ipsBadRecipientScore: SettingKey<Int> {
        .count("ips.bad_recipient_score", default: 50, "IPS score for an unknown local recipient", range: 0...100_000)
    }
    public static var ipsRelayDeniedScore: SettingKey<Int> {
        .count("ips.relay_denied_score", default: 100, "IPS score for a refused relay attempt", range: 0...100_000)
    }
    public static var ipsThreshold: SettingKey<Int> {
        .count("ips.threshold", default: 1_000, "IPS score within the period that blocks a client", range: 1...10_000_000)
    }
    public static var ipsPeriodMinutes: SettingKey<Int> {
        .count("ips.period_minutes", default: 60, "Minutes over which IPS scores add up", range: 1...100_000)
    }
    public static var ipsBlockMinutes: SettingKey<Int> {
        .count("ips.block_minutes", default: 30, "Minutes an IPS block lasts", range: 1...999_999_999)
    }
}

extension SettingKey where Value == Int {
    public static var pop3MaxFailedLogins: SettingKey<Int> {
        .count("pop3.max_failed_logins", default: 3, "Failed logins in one POP3 session before it is closed", range: 1...100)
    }
    /// RFC 1939 §3: the autologout timer is at least 10 minutes.
    public static var pop3IdleTimeout: SettingKey<Int> {
        .count("pop3.idle_timeout_seconds", default: 600, "Seconds a POP3 client may stay silent", range: 600...7_200)
    }
    public static var loginThreshold: SettingKey<Int> {
        .count("ips.login_threshold", default: 10, "Failed logins from one address, all services, that block it", range: 1...100_000)
    }
    public static var loginPeriodMinutes: SettingKey<Int> {
        .count("ips.login_period_minutes", default: 30, "Minutes over which failed logins are counted", range: 1...100_000)
    }
    public static var loginBlockMinutes: SettingKey<Int> {
        .count("ips.login_block_minutes", default: 30, "Minutes a login block lasts", range: 1...999_999_999)
    }
}

extension SettingKey where Value == Int {
    /// RFC 9051 §5.4: the autologout timer is at least 30 minutes.
    public static var imapMaxFailedLogins: SettingKey<Int> {
        .count("imap.max_failed_logins", default: 3, "Failed logins in one IMAP session before it is closed", range: 1...100)
    }
    public static var loginCacheSeconds: SettingKey<Int> {
        .count("auth.login_cache_seconds", default: 300,
               "Seconds a successful password check is remembered (0: check every login)", range: 0...86_400)
    }
    public static var imapIdleTimeout: SettingKey<Int> {
        .count("imap.idle_timeout_seconds", default: 1_800, "Seconds an IMAP client may stay silent (IDLE included)",
               range: 1_800...86_400)
    }
}

extension SettingKey where Value == Int {
    public static var mailQuotaKiB: SettingKey<Int> {
        .count("mail.quota_kib", default: 0, "Storage each user may use, in KiB, reported by IMAP QUOTA; 0 for none",
               range: 0...1_073_741_824)
    }
}

extension SettingKey where Value == Bool {
    public static var imapAuthWithoutTLS: SettingKey<Bool> {
        SettingKey("imap.auth_without_tls", default: false, "Allow LOGIN, PLAIN and LOGIN-mechanism AUTHENTICATE without TLS")
    }
    public static var pop3AuthWithoutTLS: SettingKey<Bool> {
        SettingKey("pop3.auth_without_tls", default: false,
                   "Allow USER/PASS, PLAIN and LOGIN on POP3 connections without TLS (VPOP3's Require Encrypted Authentication off)")
    }
    public static var pop3HoldDeleted: SettingKey<Bool> {
        SettingKey("pop3.hold_deleted", default: false,
                   "Keep messages POP3 clients delete (hidden from POP3, still seen over IMAP) instead of removing them")
    }
}

extension SettingKey where Value == [String] {
    static func networks(_ name: String, _ summary: String) -> SettingKey<[String]> {
        SettingKey(name, default: [], summary) { entries in
            switch IPAccessList.parse(entries) {
            case .success: nil
            case .failure(let problem): problem.description
            }
        }
    }
    /// VPOP3's IP access restrictions for relaying; empty trusts no address (loopback included).
    public static var smtpRelayNetworks: SettingKey<[String]> {
        .networks("smtp.relay_networks",
                  "Client addresses that may relay without AUTH: IPs, CIDR networks, local; ! denies; first match wins")
    }
    public static var smtpVRFYNetworks: SettingKey<[String]> {
        .networks("smtp.vrfy_networks", "Client addresses allowed VRFY and EXPN when they are enabled")
    }
    public static var ipsNeverBlock: SettingKey<[String]> {
        .networks("ips.never_block", "Addresses the IPS never blocks")
    }
    public static var smtpRefuseHelo: SettingKey<[String]> {
        SettingKey("smtp.refuse_helo", default: [], "Refuse clients whose HELO/EHLO contains one of these texts")
    }
}

extension SettingKey where Value == Bool {
    public static var smtpVRFYEnabled: SettingKey<Bool> {
        SettingKey("smtp.vrfy_enabled", default: false, "Answer VRFY and EXPN (from smtp.vrfy_networks only)")
    }
    public static var smtpAuthWithoutTLS: SettingKey<Bool> {
        SettingKey("smtp.auth_without_tls", default: false, "Offer AUTH on connections without TLS")
    }
    public static var smtpDSN: SettingKey<Bool> {
        SettingKey("smtp.dsn", default: true, "Offer the DSN extension (RFC 3461)")
    }
}

extension SettingKey where Value == Bool {
    public static var cramMD5Allowed: SettingKey<Bool> {
        SettingKey("auth.cram_md5_allowed", default: false, "Whether users may be enabled for CRAM-MD5 at all")
    }
    public static var disableDefaultMappings: SettingKey<Bool> {
        SettingKey("mail.disable_default_user_mappings", default: false,
                   "Only explicit aliases route local mail (no implied user@local-domain)")
    }
    /// DKIM verification of mail from outside.
    public static var smtpDKIMVerify: SettingKey<Bool> {
        SettingKey("smtp.dkim_verify", default: true, "Verify DKIM signatures of mail from outside and record the results")
    }

    public static var unknownLocalAsOutgoing: SettingKey<Bool> {
        SettingKey("mail.unknown_local_recipients_outgoing", default: false,
                   "Treat locally sent mail for unknown local recipients as outgoing")
    }
}

extension SettingKey where Value == String {
    /// VPOP3's incoming SPF checking: `off`, `tag` (check and record) or `reject-fail`.
    public static var smtpSPFPolicy: SettingKey<String> {
        SettingKey("smtp.spf_policy", default: "tag",
                   "SPF check of mail from outside: off, tag (record the result) or reject-fail (550 5.7.23)") { value in
            ["off", "tag", "reject-fail"].contains(value) ? nil : "must be off, tag or reject-fail"
        }
    }

    /// DMARC on mail from outside: `off`, `tag` (check and record) or `enforce`.
    public static var smtpDMARCPolicy: SettingKey<String> {
        SettingKey("smtp.dmarc_policy", default: "tag",
                   "DMARC check of mail from outside: off, tag (record the result) or enforce (reject: 550 5.7.1, quarantine: to Junk)") { value in
            ["off", "tag", "enforce"].contains(value) ? nil : "must be off, tag or enforce"
        }
    }

    /// The Public Suffix List DMARC finds organizational domains with.
    public static var dmarcPublicSuffixList: SettingKey<String> {
        SettingKey("dmarc.public_suffix_list", default: "/usr/share/publicsuffix/public_suffix_list.dat",
                   "Path of the Public Suffix List (publicsuffix.org text form) for DMARC's organizational domains") { path in
            FileManager.default.isReadableFile(atPath: path) ? nil : "cannot read \(path)"
        }
    }

    /// The address DMARC aggregate reports come from.
    public static var dmarcReportAddress: SettingKey<String> {
        SettingKey("dmarc.report_address", default: "",
                   "From: and envelope sender of DMARC aggregate reports; empty for postmaster at the server's host name") { value in
            value.isEmpty || (value.contains("@") && !value.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" }))
                ? nil : "not an address"
        }
    }

    /// The time zone of the schedule's times of day.
    public static var connectionsTimeZone: SettingKey<String> {
        SettingKey("connections.time_zone", default: "",
                   "Time zone of the connector schedule's times (an IANA name); empty for the server's") { name in
            name.isEmpty || TimeZone(identifier: name) != nil ? nil : "not a time zone name"
        }
    }

    public static var mainAdministrator: SettingKey<String> {
        SettingKey("admin.main_administrator", default: "postmaster",
                   "User who receives error reports, daily reports and unroutable mail")
    }
}

extension SettingKey where Value == Int {
    /// Days of history the audit tables (LogDB, SMTP stats, message audit) keep, measured
    /// against the time of the event being applied; the log itself keeps everything.
    public static var logRetentionDays: SettingKey<Int> {
        .count("logdb.retention_days", default: 90, "Days of history kept in the LogDB, SMTP stats and audit tables", range: 1...36_500)
    }

    /// How old the oldest event an async projection has not applied yet may be before
    /// `/readyz` says the server is not ready (its tables would show old data).
    public static var readyProjectionLag: SettingKey<Int> {
        .count("admin.ready_projection_lag_seconds", default: 60,
               "Seconds a projection may be behind the log before /readyz answers 503", range: 1...86_400)
    }
}

extension SettingKey where Value == String {
    /// Where the IDS log is written; empty for `ids.log` in the data directory.
    public static var idsLogFile: SettingKey<String> {
        SettingKey("ids.log_file", default: "", "IDS log file (empty: ids.log in the data directory)") { path in
            path.isEmpty || path.hasPrefix("/") ? nil : "must be an absolute path"
        }
    }
    /// VPOP3's IDS line format: %T time (UTC, ISO 8601), %I client address, %e event number,
    /// %E event text, %D details, %% a percent sign.
    public static var idsLogFormat: SettingKey<String> {
        SettingKey("ids.log_format", default: "%T %I %e %E %D", "IDS log line format (%T %I %e %E %D)") { format in
            format.isEmpty || format.contains("\n") || format.contains("\r") ? "must be one non-empty line" : nil
        }
    }
}

extension SettingKey where Value == [String] {
    /// RFC 6409 §8.1: submitted mail is sent as one of the user's own addresses, unless named here.
    public static var smtpAllowAnySender: SettingKey<[String]> {
        SettingKey("smtp.allow_any_sender", default: [],
                   "Users who may send as any address (MAIL FROM and From:); * for every user") { names in
            names.allSatisfy { $0 == "*" || !$0.isEmpty && !$0.contains(where: \.isWhitespace) } ? nil : "must be user names or *"
        }
    }
}

extension SettingKey where Value == Int {
    /// VPOP3's IDS event 9 (syntax errors) has its own score.
    public static var ipsSyntaxErrorScore: SettingKey<Int> {
        .count("ips.syntax_error_score", default: 20, "IPS score for a protocol or syntax error", range: 0...100_000)
    }
    public static var imapMaxSessions: SettingKey<Int> {
        .count("imap.max_sessions", default: 500, "IMAP connections at once, both listeners together", range: 1...100_000)
    }
    public static var imapMaxUnauthenticatedPerIP: SettingKey<Int> {
        .count("imap.max_unauthenticated_per_ip", default: 10, "IMAP connections from one address not logged in yet",
               range: 1...10_000)
    }
    /// Dovecot's `mail_max_userip_connections`, 10 by default, is the model.
    public static var imapMaxSessionsPerUserIP: SettingKey<Int> {
        .count("imap.max_sessions_per_user_ip", default: 10, "IMAP sessions of one user from one address", range: 1...10_000)
    }
    public static var pop3MaxSessions: SettingKey<Int> {
        .count("pop3.max_sessions", default: 200, "POP3 connections at once, both listeners together", range: 1...100_000)
    }
    public static var pop3MaxUnauthenticatedPerIP: SettingKey<Int> {
        .count("pop3.max_unauthenticated_per_ip", default: 10, "POP3 connections from one address not logged in yet",
               range: 1...10_000)
    }
    public static var pop3MaxSessionsPerUserIP: SettingKey<Int> {
        .count("pop3.max_sessions_per_user_ip", default: 10, "POP3 sessions of one user from one address", range: 1...10_000)
    }
}

// MARK: Sending (the delivery scheduler, its DNS and its SMTP client)

extension SettingKey where Value == [Int] {
    /// Minutes to wait before each further attempt after a temporary failure; the last entry
    /// repeats. The default grows from 5 minutes to 4 hours: 5, 10, 20, 40, 80, 160, 240, 240…
    public static var outqueueRetryMinutes: SettingKey<[Int]> {
        SettingKey("outqueue.retry_minutes", default: [5, 10, 20, 40, 80, 160, 240],
                   "Minutes before each retry after a temporary failure (the last repeats)") { minutes in
            !minutes.isEmpty && minutes.count <= 100 && minutes.allSatisfy { (0...10_080).contains($0) }
                ? nil : "must be 1 to 100 numbers of minutes, each 0...10080"
        }
    }
}

extension SettingKey where Value == Int {
    /// VPOP3's default: a message still undelivered after 3 days goes back to its sender.
    public static var outqueueMaxQueueDays: SettingKey<Int> {
        .count("outqueue.max_queue_days", default: 3, "Days a message is retried before it is returned as undeliverable",
               range: 0...60)
    }
    public static var outqueueDelayWarningHours: SettingKey<Int> {
        .count("outqueue.delay_warning_hours", default: 0,
               "Hours undelivered before the sender is told the message is delayed (0: never)", range: 0...1_440)
    }
    /// VPOP3's "MX sending threads". The default is Postfix's limit on its delivery processes
    /// (`default_process_limit`): a delivery mostly waits on the other server, so more of them at
    /// once keep the machine busy while the queue is long.
    public static var outqueueMaxConcurrentDeliveries: SettingKey<Int> {
        .count("outqueue.max_concurrent_deliveries", default: 100, "Deliveries to other servers at once", range: 1...1_000)
    }
    public static var outqueueMaxPerDestination: SettingKey<Int> {
        .count("outqueue.max_per_destination", default: 5, "Deliveries at once to one recipient domain", range: 1...1_000)
    }
    public static var outqueueMaxRecipientsPerMessage: SettingKey<Int> {
        .count("outqueue.max_recipients_per_message", default: 100,
               "Recipients in one SMTP transaction (more are split into several)", range: 1...10_000)
    }
    public static var outqueueMaxMessagesPerSession: SettingKey<Int> {
        .count("outqueue.max_messages_per_session", default: 50, "Messages sent over one connection before it is closed",
               range: 1...10_000)
    }
    /// Seconds to wait for a TCP connection to a receiving server.
    public static var outqueueConnectTimeout: SettingKey<Int> {
        .count("outqueue.connect_timeout_seconds", default: 30, "Seconds to wait for a connection to a receiving server",
               range: 1...600)
    }
    /// Scales RFC 5321 §4.5.3.2's reply timeouts down (a percentage), for tests and impatient sites.
    public static var outqueueReplyTimeoutPercent: SettingKey<Int> {
        .count("outqueue.reply_timeout_percent", default: 100,
               "RFC 5321's reply timeouts (5 minutes for most replies, 10 after the data) as a percentage", range: 1...100)
    }
    /// The port receiving servers are reached on (25; a test or a site behind a port filter may move it).
    public static var outqueueRemotePort: SettingKey<Int> {
        .count("outqueue.remote_port", default: 25, "TCP port of the receiving servers", range: 1...65_535)
    }
    /// When the DMARC aggregate reports of the days before go out.
    public static var dmarcReportHour: SettingKey<Int> {
        .count("dmarc.report_hour", default: 1, "Hour of the day (UTC) DMARC aggregate reports of earlier days are sent", range: 0...23)
    }

    public static var dnsTimeoutSeconds: SettingKey<Int> {
        .count("dns.timeout_seconds", default: 30, "Seconds to wait for a DNS answer", range: 1...300)
    }
}

extension SettingKey where Value == Bool {
    /// VPOP3's "pause scheduling", Postfix's `defer_transports`: nothing new is sent while on;
    /// mail is still accepted and queued, and deliveries already under way finish.
    public static var outqueuePaused: SettingKey<Bool> {
        SettingKey("outqueue.paused", default: false, "Send nothing to other servers for now (mail is still accepted and queued)")
    }

    /// VPOP3's "pause scheduling" for the connector schedule: no scheduled connections
    /// (manual ones still run; incoming mail and LAN forwarding go on).
    public static var connectionsPaused: SettingKey<Bool> {
        SettingKey("connections.paused", default: false, "The connector schedule starts no connections for now")
    }

    /// RFC 8461: recipient domains' MTA-STS policies are fetched and applied.
    public static var outqueueMTASTS: SettingKey<Bool> {
        SettingKey("outqueue.mta_sts", default: true,
                   "Fetch recipient domains' MTA-STS policies and keep mail from MX hosts that fail an enforced one")
    }

    /// RFC 7672: DANE for MX hosts whose TLSA records validate with DNSSEC.
    public static var outqueueDANE: SettingKey<Bool> {
        SettingKey("outqueue.dane", default: true,
                   "Require TLS, checked against the TLSA records, for MX hosts whose records validate with DNSSEC")
    }

    /// VPOP3's "Allow LAN forwarding addresses without a specific domain".
    public static var lanBareUserNames: SettingKey<Bool> {
        SettingKey("lan.bare_user_names", default: false,
                   "LAN forwarding patterns without @ match that user name on every local domain")
    }
}

extension SettingKey where Value == String {
    /// The name given in EHLO; empty for the server's host name.
    public static var smtpOutboundHostname: SettingKey<String> {
        SettingKey("smtp.outbound_hostname", default: "", "Name given in EHLO when sending (empty: the host name)") { name in
            name.isEmpty || (try? DomainName(name)) != nil ? nil : "must be a domain name"
        }
    }
}

extension SettingKey where Value == String {
    /// Certificates of private CAs (a PEM file) trusted besides the system's when a policy
    /// demands a checked certificate: MTA-STS fetches and the MX hosts of an enforced policy.
    public static var outqueueTrustedCertificates: SettingKey<String> {
        SettingKey("outqueue.trusted_certificates", default: "",
                   "A PEM file of CA certificates trusted besides the system's for MTA-STS (empty: the system's only)")
    }

    /// DNSSEC trust anchors for the resolver (a file of DS or DNSKEY records); empty: the
    /// root's, from Debian's dns-root-data, when it is installed.
    public static var dnsTrustAnchors: SettingKey<String> {
        SettingKey("dns.trust_anchors", default: "",
                   "A file of DNSSEC trust anchors (DS or DNSKEY records); empty: the root zone's when installed")
    }
}

extension SettingKey where Value == [String] {
    /// VPOP3's "DNS Servers to use": `IP` or `IP:PORT` (`[IPv6]:PORT`); empty uses /etc/resolv.conf.
    public static var dnsServers: SettingKey<[String]> {
        SettingKey("dns.servers", default: [], "DNS servers to ask (IP or IP:PORT); empty: the system's") { servers in
            servers.allSatisfy { !$0.isEmpty && !$0.contains(where: \.isWhitespace) } ? nil : "must be IP or IP:PORT entries"
        }
    }
}

extension SettingKey where Value == [String: [String]] {
    /// VPOP3's "DNS Overrides": mail for a domain goes to these hosts (names or IP addresses,
    /// tried in order) whatever its MX records say.
    public static var dnsOverrides: SettingKey<[String: [String]]> {
        SettingKey("dns.overrides", default: [:], "Domains whose mail goes to given hosts: {\"domain\": [\"host\", …]}") { table in
            table.allSatisfy { domain, hosts in !domain.isEmpty && !hosts.isEmpty && hosts.allSatisfy { !$0.isEmpty } }
                ? nil : "must map domains to non-empty host lists"
        }
    }
}

extension SettingKey where Value == [MailCollector] {
    /// VPOP3's Mail Collectors: ISP mailboxes downloaded into local ones. `pillarbox collector`
    /// edits it (and seals the passwords).
    public static var collectors: SettingKey<[MailCollector]> {
        SettingKey("collection.collectors", default: [],
                   "Mail collectors (ISP mailboxes downloaded into local ones); see `pillarbox collector`") { collectors in
            MailCollector.problem(collectors)
        }
    }
}

extension SettingKey where Value == [Autoresponder] {
    /// The users' autoresponders; `pillarbox autoresponder` edits it.
    public static var autoresponders: SettingKey<[Autoresponder]> {
        SettingKey("mail.autoresponders", default: [],
                   "Autoresponders: replies to mail landing in a user's mailbox; see `pillarbox autoresponder`") { responders in
            Autoresponder.problem(responders)
        }
    }
}

extension SettingKey where Value == [MailSender] {
    /// VPOP3's Mail Senders: each `direct` or through relays, chosen by domain filtering.
    /// Empty: one `direct` sender. `pillarbox sender` edits it (and seals relay passwords).
    public static var senders: SettingKey<[MailSender]> {
        SettingKey("outqueue.senders", default: [],
                   "Mail senders (direct or relay), chosen per recipient by domain filtering; see `pillarbox sender`") { senders in
            MailSenders.problem(senders)
        }
    }
}

extension SettingKey where Value == [LANForwardRule] {
    /// VPOP3's LAN forwarding rules, in order. `pillarbox lan` edits it (and seals passwords).
    public static var lanForwarding: SettingKey<[LANForwardRule]> {
        SettingKey("lan.forwarding", default: [],
                   "LAN forwarding rules in order: addresses to another SMTP server; see `pillarbox lan`") { rules in
            LANForwarding.problem(rules)
        }
    }
}

extension SettingKey where Value == [MailConnection] {
    /// VPOP3's Connections (up to 10). Empty: one network connection for the default sender,
    /// sending immediately. `pillarbox connection` edits it.
    public static var connections: SettingKey<[MailConnection]> {
        SettingKey("connections.list", default: [],
                   "Connections, each linking a mail sender; see `pillarbox connection`") { MailConnections.problem($0) }
    }
}

extension SettingKey where Value == [ScheduleItem] {
    /// VPOP3's Connector Schedule. `pillarbox schedule` edits it.
    public static var schedule: SettingKey<[ScheduleItem]> {
        SettingKey("connections.schedule", default: [],
                   "Connector schedule items: connect every X minutes between times, once at a time, or deny; see `pillarbox schedule`") {
            ConnectorSchedule.problem($0)
        }
    }
}

extension SettingKey where Value == [DKIMKeyEntry] {
    /// DKIM signing keys; `pillarbox dkim` makes and retires them (the private keys sealed).
    public static var dkimKeys: SettingKey<[DKIMKeyEntry]> {
        SettingKey("dkim.keys", default: [], "DKIM signing keys by domain and selector; see `pillarbox dkim`") { DKIMKeyEntry.problem($0) }
    }
}

public enum SettingKeys {
    /// Every known setting.
    public static let all: [AnySettingKey] = [
        SettingKey<Int>.passwordMinimumLength.erased, SettingKey<Int>.passwordMaximumLength.erased,
        SettingKey<Int>.scryptCost.erased, SettingKey<Bool>.cramMD5Allowed.erased,
        SettingKey<Bool>.disableDefaultMappings.erased, SettingKey<Bool>.unknownLocalAsOutgoing.erased,
        SettingKey<String>.mainAdministrator.erased, SettingKey<Int>.readyProjectionLag.erased, SettingKey<Int>.maxMessageSize.erased,
        SettingKey<Int>.smtpMaxSessions.erased, SettingKey<Int>.smtpMaxSessionsPerIP.erased,
        SettingKey<Int>.smtpMaxRecipients.erased, SettingKey<Int>.smtpIdleTimeout.erased,
        SettingKey<Int>.smtpMaxAuthFailures.erased, SettingKey<Int>.smtpMaxHops.erased,
        SettingKey<Int>.smtpGreetingPause.erased, SettingKey<[String]>.smtpRelayNetworks.erased,
        SettingKey<[String]>.smtpVRFYNetworks.erased, SettingKey<[String]>.smtpRefuseHelo.erased,
        SettingKey<Bool>.smtpVRFYEnabled.erased, SettingKey<Bool>.smtpAuthWithoutTLS.erased,
        SettingKey<Bool>.smtpDSN.erased,
        SettingKey<Int>.ipsBadAuthScore.erased, SettingKey<Int>.ipsBadRecipientScore.erased,
        SettingKey<Int>.ipsRelayDeniedScore.erased, SettingKey<Int>.ipsThreshold.erased,
        SettingKey<Int>.ipsPeriodMinutes.erased, SettingKey<Int>.ipsBlockMinutes.erased,
        SettingKey<[String]>.ipsNeverBlock.erased,
        SettingKey<Int>.pop3MaxFailedLogins.erased, SettingKey<Int>.pop3IdleTimeout.erased,
        SettingKey<Int>.loginThreshold.erased, SettingKey<Int>.loginPeriodMinutes.erased,
        SettingKey<Int>.loginBlockMinutes.erased, SettingKey<Bool>.pop3AuthWithoutTLS.erased,
        SettingKey<Bool>.pop3HoldDeleted.erased, SettingKey<Int>.imapIdleTimeout.erased, SettingKey<Int>.imapMaxFailedLogins.erased,
        SettingKey<Bool>.imapAuthWithoutTLS.erased, SettingKey<Int>.mailQuotaKiB.erased,
        SettingKey<Int>.loginCacheSeconds.erased, SettingKey<Int>.logRetentionDays.erased,
        SettingKey<String>.idsLogFile.erased, SettingKey<String>.idsLogFormat.erased,
        SettingKey<[String]>.smtpAllowAnySender.erased, SettingKey<Int>.ipsSyntaxErrorScore.erased,
        SettingKey<Int>.imapMaxSessions.erased, SettingKey<Int>.imapMaxUnauthenticatedPerIP.erased,
        SettingKey<Int>.imapMaxSessionsPerUserIP.erased, SettingKey<Int>.pop3MaxSessions.erased,
        SettingKey<Int>.pop3MaxUnauthenticatedPerIP.erased, SettingKey<Int>.pop3MaxSessionsPerUserIP.erased,
        SettingKey<[Int]>.outqueueRetryMinutes.erased, SettingKey<Int>.outqueueMaxQueueDays.erased,
        SettingKey<Int>.outqueueDelayWarningHours.erased, SettingKey<Int>.outqueueMaxConcurrentDeliveries.erased,
        SettingKey<Int>.outqueueMaxPerDestination.erased, SettingKey<Int>.outqueueMaxRecipientsPerMessage.erased,
        SettingKey<Int>.outqueueMaxMessagesPerSession.erased, SettingKey<Int>.outqueueConnectTimeout.erased,
        SettingKey<Int>.outqueueReplyTimeoutPercent.erased, SettingKey<Int>.outqueueRemotePort.erased,
        SettingKey<Int>.dnsTimeoutSeconds.erased, SettingKey<String>.smtpOutboundHostname.erased,
        SettingKey<[String]>.dnsServers.erased, SettingKey<[String: [String]]>.dnsOverrides.erased,
        SettingKey<Bool>.outqueuePaused.erased, SettingKey<[MailSender]>.senders.erased, SettingKey<[MailCollector]>.collectors.erased,
        SettingKey<[Autoresponder]>.autoresponders.erased,
        SettingKey<[LANForwardRule]>.lanForwarding.erased, SettingKey<Bool>.lanBareUserNames.erased,
        SettingKey<[MailConnection]>.connections.erased, SettingKey<[ScheduleItem]>.schedule.erased,
        SettingKey<Bool>.connectionsPaused.erased, SettingKey<String>.connectionsTimeZone.erased,
        SettingKey<[DKIMKeyEntry]>.dkimKeys.erased, SettingKey<String>.smtpSPFPolicy.erased,
        SettingKey<String>.smtpDMARCPolicy.erased, SettingKey<String>.dmarcPublicSuffixList.erased,
        SettingKey<Bool>.smtpDKIMVerify.erased, SettingKey<Int>.dmarcReportHour.erased,
        SettingKey<String>.dmarcReportAddress.erased, SettingKey<Bool>.outqueueMTASTS.erased,
        SettingKey<Bool>.outqueueDANE.erased, SettingKey<String>.outqueueTrustedCertificates.erased,
        SettingKey<String>.dnsTrustAnchors.erased, SettingKey<String>.listServerName.erased,
        SettingKey<String>.listServerReplyTo.erased, SettingKey<String>.listUnsubscribeURL.erased,
        SettingKey<Bool>.listServerIgnoreWithoutCommands.erased, SettingKey<Bool>.listServerReportBad.erased,
        SettingKey<String>.monitoringIncoming.erased, SettingKey<String>.monitoringOutgoing.erased,
        SettingKey<String>.monitoringInternal.erased, SettingKey<String>.monitoringTarget.erased,
        SettingKey<String>.monitoringRandomTarget.erased, SettingKey<[String]>.monitoringUsers.erased,
        SettingKey<Int>.monitoringMinimumKiB.erased, SettingKey<Int>.monitoringRandomPercent.erased,
        SettingKey<Bool>.mailCommands.erased, SettingKey<[String]>.receiptHeaderFields.erased,
        SettingKey<[String]>.outqueueHeaderModifiers.erased,
        SettingKey<[String]>.errorSuppression.erased, SettingKey<Bool>.dailySummary.erased,
        SettingKey<Bool>.dailySummaryIdleAccounts.erased, SettingKey<Bool>.dailySummaryHTML.erased,
        SettingKey<Int>.dailySummaryHour.erased,
        SettingKey<[String]>.mailRetention.erased, SettingKey<Int>.mailRetentionHour.erased,
    ]

    public static func named(_ name: String) -> AnySettingKey? { all.first { $0.name == name } }
}

/// Setting values as JSON text, the form `setting_changed` carries and `settings.settings` stores.
public enum SettingJSON {
    public static func encode<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    public static func decode<T: Decodable>(_ type: T.Type, from text: String) -> T? {
        if let value = try? JSONDecoder().decode(T.self, from: Data(text.utf8)) { return value }
        // A bare word for a string setting.
        if T.self == String.self { return text as? T }
        return nil
    }
}
