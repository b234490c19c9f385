import MailCore
import Testing

@Suite("CSV: RFC 4180 records")
struct CSVTests {
    @Test("records: quotes, doubled quotes, commas and line ends inside quotes, CRLF and LF, a last line without one",
          arguments: [
              ("a,b\r\nc,d\r\n", [["a", "b"], ["c", "d"]]),
              ("a,b\nc,d", [["a", "b"], ["c", "d"]]),
              ("\"a,1\",\"say \"\"hi\"\"\"\n", [["a,1", "say \"hi\""]]),
              ("\"two\r\nlines\",x\n", [["two\r\nlines", "x"]]),
              ("a\"b,c\n", [["a\"b", "c"]]),
              (",\n", [["", ""]]),
              ("\n", [[""]]),
              ("", []),
          ] as [(String, [[String]])])
    func records(text: String, expected: [[String]]) throws {
        #expect(try CSV.records(text) == expected)
    }

    @Test("a quoted field left open names the record it began in")
    func unterminated() {
        #expect(throws: CSV.Unterminated.self) { try CSV.records("a,b\n\"c,d\n") }
        do { _ = try CSV.records("a,b\n\"c,d\n") } catch { #expect(error.record == 2) }
    }

    @Test("fields written with quote read back as they were")
    func roundTrip() throws {
        let records = [["plain", "with,comma", "with \"quote\"", "line\nend", "cr\rhere", ""], ["ünïcode", "🙂"]]
        let text = records.map { $0.map(CSV.quote).joined(separator: ",") + "\r\n" }.joined()
        #expect(try CSV.records(text) == records)
    }
}

extension CSVTests {
    @Test("a field holding CR LF is quoted (found by FuzzCSV: CR LF is one Character)")
    func crlfQuoted() throws {
        #expect(CSV.quote("two\r\nlines") == "\"two\r\nlines\"")
        #expect(try CSV.records(CSV.quote("a\r\nb") + "\r\n") == [["a\r\nb"]])
    }
}

extension CSVTests {
    @Test("a quote followed by a combining mark is doubled (found by FuzzCSV)")
    func quoteBeforeCombiningMark() throws {
        let field = "nrd\"\u{064B}x"
        #expect(try CSV.records(CSV.quote(field) + "\r\n") == [[field]])
    }
}
