import Foundation
import TestSupport
import Testing

/// DKIM and DMARC on incoming mail through SMTP, against a DNS server on loopback holding the
/// senders' SPF, DKIM key and DMARC records; signatures made by dkimpy.
@Suite("DKIM and DMARC on incoming mail", .serialized)
struct DMARCIntakeTests {
    /// An RSA key for good.example's selector `sel`: the private key's PEM file, and the
    /// public key (DER, base64) for its record. 1024 bits keeps the record in one string.
    static let key = Result { () throws -> (pem: String, publicKey: String) in
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("dmarc-key-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let pem = directory.appendingPathComponent("key.pem").path
        func openssl(_ arguments: [String]) throws -> Data {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = arguments
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return data
        }
        _ = try openssl(["genrsa", "-out", pem, "1024"])
        let der = try openssl(["rsa", "-in", pem, "-pubout", "-outform", "DER"])
        return (pem, der.base64EncodedString())
    }

    static let dns = Result {
        try TestDNSServer(zones: ["example.", "example.com."], localData: [
            #"good.example. IN TXT "v=spf1 ip4:127.0.0.0/8 -all""#,
            #"_dmarc.good.example. IN TXT "v=DMARC1; p=reject; rua=mailto:postmaster@example.com""#,
            // example.com takes good.example's reports (RFC 7489 §7.1), not bank.example's.
            #"good.example._report._dmarc.example.com. IN TXT "v=DMARC1""#,
            #"sel._domainkey.good.example. IN TXT "v=DKIM1; k=rsa; p=\#(try key.get().publicKey)""#,
            #"bank.example. IN TXT "v=spf1 ip4:192.0.2.0/24 -all""#,
            #"_dmarc.bank.example. IN TXT "v=DMARC1; p=reject; rua=mailto:postmaster@example.com""#,
            #"quarantine.example. IN TXT "v=spf1 -all""#,
            #"_dmarc.quarantine.example. IN TXT "v=DMARC1; p=quarantine; sp=reject""#,
        ])
    }

    /// Sends one message from 127.0.0.1; `sign` has dkimpy sign it as good.example first,
    /// `tamper` changes its body after, `forge` puts a result claiming to be the server's on
    /// top, `seal` adds an ARC set from a relay of good.example's. Returns the replies to MAIL FROM and to DATA.
    func send(_ server: MailServerHarness, mailFrom: String, from: String, subject: String, sign: Bool = false,
              tamper: Bool = false, forge: Bool = false, seal: Bool = false) async throws -> [String: Any] {
        try await server.python("""
            import smtplib, dkim
            message = b'From: \(from)\\r\\nTo: alice@example.com\\r\\nSubject: \(subject)\\r\\nMessage-ID: <\(subject)@test>\\r\\n\\r\\nthe body\\r\\n'
            if \(sign ? "True" : "False"):
                key = open('\(try Self.key.get().pem)', 'rb').read()
                message = dkim.sign(message, b'sel', b'good.example', key, include_headers=[b'from', b'to', b'subject', b'message-id']) + message
            if \(seal ? "True" : "False"):
                message = b'Authentication-Results: relay.good.example; spf=pass smtp.mailfrom=good.example\\r\\n' + message
                message = b''.join(dkim.arc_sign(message, b'sel', b'good.example', key, b'relay.good.example',
                                                 include_headers=[b'from', b'to', b'subject'])) + message
            if \(tamper ? "True" : "False"):
                message = message.replace(b'the body', b'the altered body')
            if \(forge ? "True" : "False"):
                message = b'Authentication-Results: mx.test.example; dkim=pass header.d=bank.example\\r\\n' + message
            s = smtplib.SMTP('127.0.0.1', PORTS['smtp'])
            s.ehlo('client.good.example')
            code, text = s.mail('\(mailFrom)')
            out = {'mail': code}
            if code == 250:
                s.rcpt('alice@example.com')
                code, text = s.data(message)
                out['data'] = code
                out['text'] = text.decode()
            s.quit()
            print(json.dumps(out))
            """).json
    }

    func stored(_ server: MailServerHarness, _ subject: String, mailbox: String = "INBOX") async throws -> String {
        try await eventually(within: .seconds(30), "\(subject) in alice's \(mailbox)") { () -> String? in
            let uids = try await server.cli(["mail", "list", "alice", "--mailbox", mailbox]).split(separator: "\n")
                .compactMap { line in line.split(separator: " ").first.flatMap { UInt32($0) } }
            for uid in uids {
                let text = try await server.cli(["mail", "show", "alice", "\(uid)", "--mailbox", mailbox])
                if text.contains("Subject: \(subject)") { return text }
            }
            return nil
        }
    }

    @Test("dkimpy's signature passes and DMARC with it; a DMARC reject is refused at DATA, a quarantine goes to Junk; forged results are removed")
    func dmarcThroughSMTP() async throws {
        try await MailServerHarness.with { server in
            try await server.createStandardDirectory()
            try await server.cli(["settings", "set", "dns.servers", #"["127.0.0.1:\#(try Self.dns.get().port)"]"#,
                                  "smtp.spf_policy", "tag", "smtp.dkim_verify", "true", "smtp.dmarc_policy", "enforce",
                                  "ips.never_block", #"["127.0.0.1"]"#])
            try await server.start()

            // Signed by good.example, sent with a reverse-path SPF knows nothing of: DKIM
            // aligns, DMARC passes. The forged result on top is gone.
            let signed = try await send(server, mailFrom: "bounces@other.example", from: "news@good.example", subject: "signed",
                                        sign: true, forge: true, seal: true)
            #expect(signed["data"] as? Int == 250, "\(signed)")
            let signedCopy = try await stored(server, "signed")
            #expect(signedCopy.contains("\tdkim=pass\r\n\t\theader.d=good.example\r\n\t\theader.s=sel"), "\(signedCopy)")
            #expect(signedCopy.contains("\tdmarc=pass (p=reject dis=none)\r\n\t\theader.from=good.example"), "\(signedCopy)")
            #expect(signedCopy.components(separatedBy: "Authentication-Results: mx.test.example").count == 2, "one of ours")
            #expect(signedCopy.contains("\tarc=pass\r\n\t\theader.d=good.example\r\n\t\theader.i=1"), "the relay's ARC seal")
            #expect(!signedCopy.contains("header.d=bank.example"))
            #expect(signedCopy.hasPrefix("Return-Path: <bounces@other.example>\r\nAuthentication-Results: mx.test.example;"))

            // Changed after signing: DKIM fails, DMARC passes through SPF.
            let tampered = try await send(server, mailFrom: "news@good.example", from: "news@good.example", subject: "tampered",
                                          sign: true, tamper: true)
            #expect(tampered["data"] as? Int == 250, "\(tampered)")
            let tamperedCopy = try await stored(server, "tampered")
            #expect(tamperedCopy.contains("\tdkim=fail reason=\"body hash did not verify\""), "\(tamperedCopy)")
            #expect(tamperedCopy.contains("\tspf=pass\r\n\t\tsmtp.mailfrom=news@good.example"))
            #expect(tamperedCopy.contains("\tdmarc=pass"))

            // A forged From of a p=reject domain: refused at the end of DATA.
            let forged = try await send(server, mailFrom: "ceo@bank.example", from: "ceo@bank.example", subject: "forged")
            #expect(forged["data"] as? Int == 550, "\(forged)")
            #expect((forged["text"] as? String)?.hasPrefix("5.7.1 Message refused by the DMARC policy of bank.example") == true, "\(forged)")

            // p=quarantine: to Junk.
            let junk = try await send(server, mailFrom: "offers@quarantine.example", from: "offers@quarantine.example", subject: "offer")
            #expect(junk["data"] as? Int == 250, "\(junk)")
            let junkCopy = try await stored(server, "offer", mailbox: "Junk")
            #expect(junkCopy.contains("dmarc=fail (p=quarantine dis=quarantine)"))

            // The results are facts in the log.
            let log = try await server.cli(["log", "dump"])
            #expect(log.contains(#""applied":"quarantine""#))
            #expect(log.contains(#""dkimAligned":true"#))
            #expect(log.contains(#""applied":"reject""#), "the refused message's message_rejected carries its DMARC check")

            // The day's aggregate reports: good.example's goes to postmaster@example.com, which
            // agreed to take it; bank.example's is not sent there.
            let today = try await server.cli(["log", "dump", "--category", "message"]).split(separator: "\n").compactMap { line in
                line.range(of: #""recorded_at":""#).map { String(line[$0.upperBound...].prefix(10)) }
            }.first ?? ""
            _ = try await eventually(within: .seconds(30), "the evaluations in the dmarc projection") { () -> String? in
                let rows = try await server.cli(["dmarc", "records", "--day", today])
                return rows.contains("bank.example") && rows.contains("good.example") ? rows : nil
            }
            let sent = try await server.cli(["dmarc", "send", "--day", today])
            #expect(sent.contains("postmaster@example.com"), "\(sent)")
            #expect(sent.contains("does not take reports for bank.example"), "\(sent)")
            #expect(try await server.cli(["dmarc", "send", "--day", today]).split(separator: "\n").count == 1, "sent once only")

            let report = try await eventually(within: .seconds(30), "the report in postmaster's INBOX") { () -> String? in
                guard try await server.cli(["mail", "list", "postmaster"]).contains("\n1 ") else { return nil }
                return try await server.cli(["mail", "show", "postmaster", "1"])
            }
            #expect(report.contains("Subject: Report Domain: good.example Submitter: mx.test.example"), "\(report)")
            let path = server.dataDirectory + "/report.eml"
            try report.write(toFile: path, atomically: true, encoding: .utf8)
            let xml = try await server.python("""
                import email, email.policy, gzip
                message = email.message_from_binary_file(open('\(path)', 'rb'), policy=email.policy.default)
                part = next(p for p in message.walk() if p.get_content_type() == 'application/gzip')
                print(gzip.decompress(part.get_payload(decode=True)).decode(), end='')
                """).output
            let validation = try DMARCSchema.validate(xml)
            #expect(validation.status == 0, "\(validation.output)\n\(xml)")
            #expect(xml.contains("<header_from>good.example</header_from>"))
            #expect(xml.contains("<source_ip>127.0.0.1</source_ip>"))

            // Read back as a received report.
            let received = try await server.cli(["dmarc", "received", "--user", "postmaster"])
            #expect(received.contains("good.example:\(today)@mx.test.example"), "\(received)")
            #expect(try await server.cli(["dmarc", "reports"]).contains("postmaster@example.com"))
        }
    }
}
