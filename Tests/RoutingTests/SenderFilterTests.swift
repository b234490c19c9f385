import Facts
import Testing

/// Domain filtering for mail senders, as an administrator writes it: no database, no sockets.
@Suite("Sender domain filtering")
struct SenderFilterTests {
    @Test("VPOP3's examples: From: rules on the envelope sender, bare patterns on the recipient's domain")
    func examples() throws {
        let filter = try SenderFilter(parsing: """
            From: *@mydomain.com
            customerdomain.com
            customerdomain.*
            *microsoft.com
            """)
        #expect(filter.rules.count == 4)
        #expect(filter.takes(sender: "ann@mydomain.com", recipient: "bob@customerdomain.com"))
        #expect(filter.takes(sender: "ANN@MyDomain.com", recipient: "bob@CustomerDomain.co.uk"))
        #expect(filter.takes(sender: "ann@mydomain.com", recipient: "x@eu.microsoft.com"))
        #expect(!filter.takes(sender: "ann@otherdomain.com", recipient: "bob@customerdomain.com"),
                "both kinds must agree")
        #expect(!filter.takes(sender: "ann@mydomain.com", recipient: "bob@elsewhere.example"))
    }

    @Test("a filter with one kind of rule agrees on the other kind; one without rules takes nothing")
    func oneKind() throws {
        let senders = try SenderFilter(parsing: "From: *@sales.example\n")
        #expect(senders.takes(sender: "a@sales.example", recipient: "anyone@anywhere.example"))
        #expect(!senders.takes(sender: "a@support.example", recipient: "anyone@anywhere.example"))
        let recipients = try SenderFilter(parsing: "*.gov")
        #expect(recipients.takes(sender: "", recipient: "clerk@city.gov"), "a bounce from <> follows recipient rules")
        #expect(!recipients.takes(sender: "a@b.example", recipient: "clerk@city.gov.example"))
        let empty = try SenderFilter(parsing: "\n  # nothing yet\n\n")
        #expect(empty.isEmpty && !empty.takes(sender: "a@b.example", recipient: "c@d.example"))
    }

    @Test("! excludes: alone it takes everything else; beside plain rules it carves out of them")
    func exclusions() throws {
        let notGov = try SenderFilter(parsing: "!*.gov")
        #expect(notGov.takes(sender: "a@b.example", recipient: "x@shop.example"))
        #expect(!notGov.takes(sender: "a@b.example", recipient: "x@city.gov"))
        let carved = try SenderFilter(parsing: """
            *.com
            ! microsoft.com
            !From: ceo@*
            """)
        #expect(carved.takes(sender: "ann@corp.example", recipient: "x@shop.com"))
        #expect(!carved.takes(sender: "ann@corp.example", recipient: "x@microsoft.com"))
        #expect(carved.takes(sender: "ann@corp.example", recipient: "x@eu.microsoft.com"))
        #expect(!carved.takes(sender: "ceo@corp.example", recipient: "x@shop.com"))
    }

    @Test("whole-address patterns and single-character wildcards")
    func addresses() throws {
        let filter = try SenderFilter(parsing: "From: sales?@corp.example\nbilling@*")
        #expect(filter.takes(sender: "sales1@corp.example", recipient: "billing@vendor.example"))
        #expect(!filter.takes(sender: "sales12@corp.example", recipient: "billing@vendor.example"))
        #expect(!filter.takes(sender: "sales1@corp.example", recipient: "accounts@vendor.example"))
    }

    @Test("lines that are not rules are refused with their number and what is wrong")
    func refused() {
        func problem(_ text: String) -> SenderFilter.ParseError? {
            do { _ = try SenderFilter(parsing: text); return nil } catch { return error }
        }
        #expect(problem("ok.example\nFrom:") == .init(line: 2, problem: "the sender pattern after From: is empty"))
        #expect(problem("!") == .init(line: 1, problem: "the recipient pattern is empty"))
        #expect(problem("a.example b.example")?.problem.contains("one rule per line") == true)
        #expect(problem("a@b@c.example")?.problem.contains("more than one @") == true)
        #expect(problem("From: ann@")?.line == 1)
        #expect(problem(String(repeating: "a", count: 400))?.problem.contains("longer") == true)
        #expect(problem("tab\there")?.line == 1)
    }

    @Test("the first sender in order whose filter takes the recipient; none for the default")
    func choosing() throws {
        let senders = [
            (name: "m365", filter: try SenderFilter(parsing: "From: *@corp.example\n!*.gov")),
            (name: "isp", filter: try SenderFilter(parsing: "*")),
            (name: "unused", filter: SenderFilter(rules: [])),
        ]
        #expect(SenderFilter.choose(from: senders, sender: "a@corp.example", recipient: "b@shop.example") == "m365")
        #expect(SenderFilter.choose(from: senders, sender: "a@corp.example", recipient: "b@city.gov") == "isp")
        #expect(SenderFilter.choose(from: Array(senders.dropFirst(1).reversed()), sender: "a@x.example",
                                    recipient: "b@y.example") == "isp")
        #expect(SenderFilter.choose(from: [senders[0], senders[2]], sender: "a@other.example",
                                    recipient: "b@shop.example") == nil)
    }
}
