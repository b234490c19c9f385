/// RFC 4180 CSV, tolerant of bare LF line ends: the user lists administrators upload and
/// download.
public enum CSV {
    /// A quoted field still open at the end of the text.
    public struct Unterminated: Error, Sendable {
        /// The record (from 1) the field began in.
        public let record: Int
    }

    /// `field` quoted when it holds a comma, quote or line end.
    public static func quote(_ field: String) -> String {
        // By scalar: "\r\n" is one Character, equal to neither "\r" nor "\n".
        guard field.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
        else { return field }
        var quoted = String.UnicodeScalarView()
        quoted.append("\"")
        for scalar in field.unicodeScalars {
            quoted.append(scalar)
            // By scalar again: a quote followed by a combining mark is one Character.
            if scalar == "\"" { quoted.append("\"") }
        }
        quoted.append("\"")
        return String(quoted)
    }

    /// The records of `text`, each a list of fields. CR is dropped outside quotes; a quote
    /// opens a quoted field only at a field's start (elsewhere it is an ordinary character).
    public static func records(_ text: String) throws(Unterminated) -> [[String]] {
        var records: [[String]] = []
        var record: [String] = []
        var field = ""
        var quoted = false
        var wasQuoted = false
        var characters = Array(text.unicodeScalars)[...]
        while let character = characters.popFirst() {
            if quoted {
                if character == "\"" {
                    if characters.first == "\"" { characters.removeFirst(); field.unicodeScalars.append("\"") } else { quoted = false }
                } else {
                    field.unicodeScalars.append(character)
                }
                continue
            }
            switch character {
            case "\"" where field.isEmpty && !wasQuoted:
                quoted = true
                wasQuoted = true
            case ",":
                record.append(field)
                field = ""
                wasQuoted = false
            case "\r":
                continue
            case "\n":
                record.append(field)
                records.append(record)
                record = []
                field = ""
                wasQuoted = false
            default:
                field.unicodeScalars.append(character)
            }
        }
        if quoted { throw Unterminated(record: records.count + 1) }
        if !field.isEmpty || !record.isEmpty {
            record.append(field)
            records.append(record)
        }
        return records
    }
}
