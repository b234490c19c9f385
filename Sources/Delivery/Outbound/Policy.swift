import Facts
import Foundation
import MailCore
import Projections

/// The settings one delivery runs with, read once at its start.
struct Policy {
    var retryMinutes: [Int]
    var maxQueueDays: Int
    var delayWarningHours: Int
    var maxPerDestination: Int
    var maxRecipientsPerMessage: Int
    var maxMessagesPerSession: Int
    var connectTimeout: Duration
    var timeoutScale: Double
    var port: Int
    var outboundHostname: String
    var dnsServers: [String]
    var dnsTimeout: Int
    var overrides: [String: [String]]
    /// The sender this delivery goes through (its name is the attempts' `route`).
    var senderName = MailSender.implicitDirect.name
    var maxRecipientsPerSession: Int?
    var mtaSTS: Bool
    var dane: Bool
    /// Extra CA certificates for checked TLS (MTA-STS); nil for the system's only.
    var trustedCertificates: String?
    /// DNSSEC trust anchors; nil: answers are not validated (and DANE does not apply).
    var trustAnchors: String?
    /// `outqueue.header_modifiers`, for mail from local senders.
    var headerModifiers: [HeaderModifier]
    /// `smtp.relay_networks`: unauthenticated MX clients there are local senders.
    var relayNetworks: IPAccessList

    init(settings: LiveSettings) {
        retryMinutes = settings.value(.outqueueRetryMinutes)
        maxQueueDays = settings.value(.outqueueMaxQueueDays)
        delayWarningHours = settings.value(.outqueueDelayWarningHours)
        maxPerDestination = settings.value(.outqueueMaxPerDestination)
        maxRecipientsPerMessage = settings.value(.outqueueMaxRecipientsPerMessage)
        maxMessagesPerSession = settings.value(.outqueueMaxMessagesPerSession)
        connectTimeout = .seconds(settings.value(.outqueueConnectTimeout))
        timeoutScale = Double(settings.value(.outqueueReplyTimeoutPercent)) / 100
        port = settings.value(.outqueueRemotePort)
        outboundHostname = settings.value(.smtpOutboundHostname)
        dnsServers = settings.value(.dnsServers)
        dnsTimeout = settings.value(.dnsTimeoutSeconds)
        mtaSTS = settings.value(.outqueueMTASTS)
        dane = settings.value(.outqueueDANE)
        let trusted = settings.value(SettingKey<String>.outqueueTrustedCertificates)
        trustedCertificates = trusted.isEmpty ? nil : trusted
        let anchors = settings.value(SettingKey<String>.dnsTrustAnchors)
        trustAnchors = anchors.isEmpty ? nil : anchors
        headerModifiers = HeaderModifier.parse(lines: settings.value(.outqueueHeaderModifiers))
        relayNetworks = headerModifiers.isEmpty
            ? IPAccessList(entries: [])
            : (try? IPAccessList.parse(settings.value(SettingKey<[String]>.smtpRelayNetworks)).get()) ?? IPAccessList(entries: [])
        overrides = Dictionary(settings.value(.dnsOverrides).map { ($0.key.lowercased(), $0.value) }) { first, _ in first }
    }

    /// This policy with a sender's own limits and EHLO name in place of the global ones.
    func `for`(_ sender: MailSender) -> Policy {
        var policy = self
        policy.senderName = sender.name
        if let value = sender.maxRecipientsPerMessage { policy.maxRecipientsPerMessage = value }
        if let value = sender.maxMessagesPerSession { policy.maxMessagesPerSession = value }
        policy.maxRecipientsPerSession = sender.maxRecipientsPerSession
        if let maximum = sender.maxRecipientsPerSession { policy.maxRecipientsPerMessage = min(policy.maxRecipientsPerMessage, maximum) }
        if let name = sender.ehloName { policy.outboundHostname = name }
        return policy
    }

    /// Whether `accepted` came from a local sender or the server itself (the header modifiers
    /// apply) rather than from outside (passed on as it came: forwards, collected mail).
    func fromLocalSender(_ accepted: MessageAccepted) -> Bool {
        if accepted.authUser != nil { return true }
        switch accepted.service {
        case "smtp": return relayNetworks.allows(accepted.clientIP)
        case "smtps", "submission", "pop3-collector", "imap-collector": return false
        default: return true  // written by the server: notices, reports, list posts, DSNs
        }
    }

    func ehloName(_ hostname: String) -> String {
        outboundHostname.isEmpty ? hostname : outboundHostname
    }

    /// RFC 5321 §4.5.4.1: the wait before attempt `attempts + 1`, from `outqueue.retry_minutes`
    /// (its last entry repeating).
    func retryDelay(afterAttempts attempts: Int) -> TimeInterval {
        let index = min(max(attempts - 1, 0), retryMinutes.count - 1)
        return TimeInterval(retryMinutes[index] * 60)
    }
}

