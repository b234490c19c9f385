import Foundation

/// An event as one JSON object, its data inlined as stored: a line of `pillarbox log dump`, and
/// what the admin API answers for an event.
public struct EventDumpLine: Sendable {
    public let text: String

    public init(_ event: RecordedEvent) {
        var text = "{\"position\":\(event.position)"
        text += ",\"stream\":" + Self.quoted(event.stream)
        text += ",\"version\":\(event.streamVersion)"
        text += ",\"type\":" + Self.quoted(event.type)
        text += ",\"recorded_at\":" + Self.quoted(event.recordedAt.formatted(Self.timestamp))
        text += ",\"event_id\":" + Self.quoted(event.eventID.uuidString.lowercased())
        if let correlation = event.correlationID { text += ",\"correlation_id\":" + Self.quoted(correlation.uuidString.lowercased()) }
        if let causation = event.causationID { text += ",\"causation_id\":" + Self.quoted(causation.uuidString.lowercased()) }
        let data = String(decoding: event.json, as: UTF8.self)
        let isJSON = (try? JSONSerialization.jsonObject(with: Data(event.json), options: [.fragmentsAllowed])) != nil
        text += ",\"data\":" + (isJSON ? data : Self.quoted(data)) + "}"
        self.text = text
    }

    private static let timestamp = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// A JSON string literal (RFC 8259 §7).
    public static func quoted(_ value: String) -> String {
        var text = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20: text += String(format: "\\u%04x", scalar.value)
            default: text.unicodeScalars.append(scalar)
            }
        }
        return text + "\""
    }
}
