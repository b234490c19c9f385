import EventLog
import Foundation
import Testing

@Suite("Value types")
struct ValueTests {
    @Test("stream keys split at the first hyphen", arguments: [
        ("mailbox-alice", "mailbox", "alice"),
        ("mailbox-alice-smith@example.com", "mailbox", "alice-smith@example.com"),
        ("settings", "settings", nil),
    ] as [(String, String, String?)])
    func streamNames(key: String, category: String, id: String?) throws {
        let name = try StreamName(key: key)
        #expect(name.category == category)
        #expect(name.id == id)
        #expect(name.key == key)
    }

    @Test("bad stream names are refused", arguments: ["", "-x", "Mailbox-a", "mail box-a", "mailbox-", "mailbox-a\u{0}b",
                                                      String(repeating: "a", count: 49)])
    func badStreamNames(key: String) {
        #expect(throws: StreamName.ParseError.self) { try StreamName(key: key) }
    }

    @Test("blob ids are SHA-256 in hex")
    func blobIDs() throws {
        let id = BlobID.of(Array("abc".utf8))
        #expect(id.hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(BlobID(hex: id.hex) == id)
        #expect(BlobID(hex: "xyz") == nil)
        let json = try JSONEncoder().encode(["body": id])
        #expect(try JSONDecoder().decode([String: BlobID].self, from: json)["body"] == id)
    }

    @Test("event type strings", arguments: [("message_accepted", true), ("a.b_2", true), ("Message", false), ("", false), ("2fa", false)])
    func eventTypes(type: String, valid: Bool) {
        #expect(EventCoding.isValidType(type) == valid)
    }

    @Test("database URLs")
    func databaseURLs() throws {
        let tcp = try DatabaseEndpoint(url: "postgres://mail:secret@db.example.net:6432/pillarbox?sslmode=require")
        #expect(tcp.location == .tcp(host: "db.example.net", port: 6432))
        #expect(tcp.username == "mail")
        #expect(tcp.password == "secret")
        #expect(tcp.database == "pillarbox")
        #expect(tcp.tls == .require)
        #expect(!tcp.redactedURL.contains("secret"))

        let socket = try DatabaseEndpoint(url: "postgres://pillarbox@/mail?host=/srv/pillarbox/run")
        #expect(socket.location == .unixSocket(directory: "/srv/pillarbox/run", port: 5432))
        #expect(socket.database == "mail")
        #expect(try DatabaseEndpoint(url: socket.redactedURL) == socket)

        #expect(try DatabaseEndpoint(url: "postgresql://u@localhost/db").tls == .disable)
        #expect(throws: DatabaseEndpoint.ParseError.self) { try DatabaseEndpoint(url: "mysql://u@h/db") }
        #expect(throws: DatabaseEndpoint.ParseError.self) { try DatabaseEndpoint(url: "postgres://u@h/db?sslmode=always") }
        #expect(throws: DatabaseEndpoint.ParseError.self) { try DatabaseEndpoint(url: "postgres://u@h/db?colour=blue") }
    }

    @Test("typed events decode only as their own type")
    func typedDecoding() throws {
        let data = try EventData(NoteWritten(text: "hi", number: 3))
        #expect(data.type == "test_note_written")
        #expect(data.typeVersion == 1)
        let recorded = RecordedEvent(position: 1, transaction: 1, stream: "notes-1", streamVersion: 0, type: data.type,
                                     typeVersion: 1, eventID: data.eventID, correlationID: nil, causationID: nil,
                                     recordedAt: Date(), json: data.json)
        #expect(try recorded.decode(as: NoteWritten.self) == NoteWritten(text: "hi", number: 3))
        #expect(throws: EventLogError.self) { try recorded.decode(as: BodyStored.self) }
    }
}
