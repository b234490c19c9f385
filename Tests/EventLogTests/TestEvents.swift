import EventLog
import Facts
import Foundation

/// A small event used throughout these tests.
struct NoteWritten: Event, Equatable {
    static let eventType = "test_note_written"
    var text: String
    var number: Int
}

/// An event carrying a message body by reference, as MessageAccepted will.
struct BodyStored: Event, Equatable {
    static let eventType = "test_body_stored"
    var body: BlobID
}

func note(_ text: String, _ number: Int = 0, id: UUID = UUID()) throws -> EventData {
    try EventData(NoteWritten(text: text, number: number), eventID: id)
}

func stream(_ key: String) throws -> StreamName {
    try StreamName(key: key)
}
