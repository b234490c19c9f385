import Foundation

/// What commands print: an aligned table by default, JSON with `--json`.
struct Output {
    let json: Bool

    func print(columns: [String], rows: [[String]]) {
        if json {
            let objects = rows.map { row in Dictionary(uniqueKeysWithValues: zip(columns, row)) }
            let data = (try? JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys])) ?? Data()
            Swift.print(String(decoding: data, as: UTF8.self))
            return
        }
        var widths = columns.map(\.count)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        Swift.print(line(columns.map { $0.uppercased() }))
        for row in rows { Swift.print(line(row)) }
    }

    /// What a command that changes something did, as one line (or `{"done": …}`).
    func done(_ message: String) {
        if json {
            let data = (try? JSONSerialization.data(withJSONObject: ["done": message], options: [.sortedKeys])) ?? Data()
            Swift.print(String(decoding: data, as: UTF8.self))
        } else {
            Swift.print(message)
        }
    }

    /// A single record as `key: value` lines (or one JSON object).
    func print(record: [(String, String)]) {
        if json {
            let object = Dictionary(record, uniquingKeysWith: { first, _ in first })
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data()
            Swift.print(String(decoding: data, as: UTF8.self))
            return
        }
        let width = record.map(\.0.count).max() ?? 0
        for (key, value) in record { Swift.print("\(key.padding(toLength: width, withPad: " ", startingAt: 0))  \(value)") }
    }
}

/// Reads a password from the first line of standard input.
func readPasswordFromStandardInput() throws -> String {
    guard let line = Swift.readLine(strippingNewline: true), !line.isEmpty else {
        throw CommandFailure("no password on standard input")
    }
    return line
}

/// A failure reported to the user as one line, exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Who made an administrative change from the command line.
var commandLineActor: String {
    "cli:" + (ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.environment["USER"] ?? "unknown")
}
