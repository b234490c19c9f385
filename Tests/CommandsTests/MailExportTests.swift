@testable import Commands
import Testing

/// How `pillarbox mail export` names folders and flags in Maildir++.
@Suite("Maildir++ names and flags of an export")
struct MailExportTests {
    @Test("INBOX is the top maildir; levels are joined by dots; dots, percent signs, tildes and control characters in a name are escaped")
    func folders() {
        #expect(MailExport.folderDirectory("INBOX") == "" && MailExport.folderDirectory("inbox") == "")
        #expect(MailExport.folderDirectory("Sent") == ".Sent")
        #expect(MailExport.folderDirectory("INBOX/Receipts") == ".INBOX.Receipts")
        #expect(MailExport.folderDirectory("Projects/2026.Q1") == ".Projects.2026%2EQ1")
        #expect(MailExport.folderDirectory("../etc") == ".%2E%2E.etc")
        #expect(MailExport.folderDirectory("100% ~done\u{7}") == ".100%25 %7Edone%07")
        #expect(MailExport.folderDirectory("Zürich") == ".Zürich")
        #expect(MailExport.escaped("..", dots: true) == "%2E%2E" && MailExport.escaped("a.b", dots: false) == "a.b")
    }

    @Test("system flags as capitals in ASCII order; keywords as letters of the folder's list, at most 26; \\Recent dropped")
    func flags() {
        var keywords: [String] = []
        #expect(MailExport.info(["\\Seen", "\\Flagged", "\\Answered", "\\Recent"], keywords: &keywords) == "FRS")
        #expect(MailExport.info(["\\Draft", "\\Deleted", "$Forwarded"], keywords: &keywords) == "DPT")
        #expect(MailExport.info(["Work", "\\Seen", "$Label1"], keywords: &keywords) == "Sab")
        #expect(MailExport.info(["$Label1"], keywords: &keywords) == "b")
        #expect(keywords == ["Work", "$Label1"])
        var many = (0..<26).map { "k\($0)" }
        #expect(MailExport.info(["extra", "k25"], keywords: &many) == "z")
        #expect(many.count == 26)
    }
}
