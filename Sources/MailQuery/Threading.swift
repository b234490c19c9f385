import Foundation

/// RFC 5256 §2.1: the base subject SORT and THREAD compare, and whether the subject marked the
/// message as a reply or forward (a "Re:", "Fwd:", "(fwd)" or "[fwd: ...]" was removed).
public struct BaseSubject: Equatable {
    public let text: String
    public let isReply: Bool

    public init(text: String, isReply: Bool) {
        self.text = text
        self.isReply = isReply
    }

    public init(_ subject: String) {
        // (1) White space runs become one space; the comparison folds case.
        var text = subject.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" })
            .joined(separator: " ").lowercased()
        var isReply = false
        while true {
            // (2) Trailing "(fwd)" and white space.
            while true {
                while text.hasSuffix(" ") { text.removeLast() }
                guard text.hasSuffix("(fwd)") else { break }
                text.removeLast(5)
                isReply = true
            }
            // (3)–(5) Leaders ("re:", "fwd[blob]:", blobs before them, spaces), then one blob
            // when something is left behind it, until nothing changes.
            var changed = true
            while changed {
                changed = false
                while true {
                    if text.hasPrefix(" ") {
                        text.removeFirst()
                        changed = true
                    } else if let length = Self.refwd(text) {
                        text.removeFirst(length)
                        isReply = true
                        changed = true
                    } else {
                        break
                    }
                }
                if let length = Self.blob(text[...]), length < text.count,
                   text.dropFirst(length).contains(where: { $0 != " " }) {
                    text.removeFirst(length)
                    changed = true
                }
            }
            // (6) A "[fwd: ...]" wrapper: unwrap and start again at (2).
            guard text.hasPrefix("[fwd:"), text.hasSuffix("]") else { break }
            text = String(text.dropFirst(5).dropLast())
            isReply = true
        }
        self.text = text
        self.isReply = isReply
    }

    /// `subj-blob`: "[" then anything but brackets, "]", then spaces; its length.
    static func blob(_ text: Substring) -> Int? {
        guard text.first == "[" else { return nil }
        var length = 1
        for character in text.dropFirst() {
            length += 1
            if character == "]" {
                return length + text.dropFirst(length).prefix { $0 == " " }.count
            }
            if character == "[" { return nil }
        }
        return nil
    }

    /// `*subj-blob subj-refwd` at the start: blobs, then "re", "fw" or "fwd", spaces, an
    /// optional blob and ":"; its length.
    static func refwd(_ text: String) -> Int? {
        var rest = text[...]
        var length = 0
        while let blobLength = blob(rest) {
            rest = rest.dropFirst(blobLength)
            length += blobLength
        }
        var word = 0
        if rest.hasPrefix("re") {
            word = 2
        } else if rest.hasPrefix("fwd") {
            word = 3
        } else if rest.hasPrefix("fw") {
            word = 2
        } else {
            return nil
        }
        rest = rest.dropFirst(word)
        length += word
        let spaces = rest.prefix { $0 == " " }.count
        rest = rest.dropFirst(spaces)
        length += spaces
        if let blobLength = blob(rest) {
            rest = rest.dropFirst(blobLength)
            length += blobLength
        }
        guard rest.first == ":" else { return nil }
        return length + 1
    }
}

/// RFC 5256 threads: a message (its sequence number or UID) with the threads below it, or a
/// placeholder (nil) holding messages that share a base subject or a missing parent.
public struct MessageThread: Equatable {
    public var id: Int?
    public var children: [MessageThread]

    public init(id: Int?, children: [MessageThread]) {
        self.id = id
        self.children = children
    }

    /// `(1 2 (3)(4))`: one child continues the line; several are each in parentheses.
    public var rendered: String { "(" + members + ")" }

    private var members: String {
        var text = id.map(String.init) ?? ""
        if children.count == 1, id != nil {
            text += " " + children[0].members
        } else if !children.isEmpty {
            // RFC 5256 §5: thread-nested = 2*thread-list, with no space between.
            text += (text.isEmpty ? "" : " ") + children.map { "(" + $0.members + ")" }.joined()
        }
        return text
    }
}

public enum Threading {
    public struct Message {
        /// What the thread shows: a sequence number or UID.
        let id: Int
        /// Position in the mailbox, for ties between equal dates.
        let order: Int
        let date: Date
        let subject: String
        let messageID: String?
        let references: [String]
        let inReplyTo: [String]

        public init(id: Int, order: Int, date: Date, subject: String, messageID: String?, references: [String], inReplyTo: [String]) {
            self.id = id
            self.order = order
            self.date = date
            self.subject = subject
            self.messageID = messageID
            self.references = references
            self.inReplyTo = inReplyTo
        }
    }

    /// The `<...>` message identifiers in a References or In-Reply-To field.
    public static func messageIDs(_ text: String?) -> [String] {
        guard let text else { return [] }
        var ids: [String] = []
        var rest = text[...]
        while let open = rest.firstIndex(of: "<") {
            guard let close = rest[open...].firstIndex(of: ">") else { break }
            let id = rest[open...close]
            if id.count > 2, !id.contains(" "), !id.dropFirst().contains("<") { ids.append(String(id)) }
            rest = rest[rest.index(after: close)...]
        }
        return ids
    }

    private static func before(_ a: Message, _ b: Message) -> Bool {
        a.date == b.date ? a.order < b.order : a.date < b.date
    }

    /// THREAD=ORDEREDSUBJECT: messages grouped by base subject, each group under its oldest
    /// message, groups ordered by their first message's date.
    public static func orderedSubject(_ messages: [Message]) -> [MessageThread] {
        var groups: [String: [Message]] = [:]
        for message in messages { groups[BaseSubject(message.subject).text, default: []].append(message) }
        let ordered = groups.values.map { $0.sorted(by: before) }.sorted { before($0[0], $1[0]) }
        return ordered.map { group in
            MessageThread(id: group[0].id, children: group.dropFirst().map { MessageThread(id: $0.id, children: []) })
        }
    }

    private final class Container {
        var message: Message?
        weak var parent: Container?
        var children: [Container] = []

        init(_ message: Message? = nil) { self.message = message }

        /// Whether `self` is `other` or one of its ancestors.
        func isAncestor(of other: Container) -> Bool {
            var current: Container? = other
            var steps = 0
            while let node = current, steps < 100_000 {
                if node === self { return true }
                current = node.parent
                steps += 1
            }
            return false
        }

        func adopt(_ child: Container) {
            child.parent?.children.removeAll { $0 === child }
            child.parent = self
            children.append(child)
        }

        /// The message that stands for this container: its own, or its first child's.
        var representative: Message? { message ?? children.first?.message }
    }

    /// THREAD=REFERENCES (RFC 5256 §3).
    public static func references(_ messages: [Message]) -> [MessageThread] {
        var byID: [String: Container] = [:]
        var all: [Container] = []
        func container(_ id: String) -> Container {
            if let existing = byID[id] { return existing }
            let created = Container()
            byID[id] = created
            all.append(created)
            return created
        }
        // (1) Link each message to its references, and the references to each other.
        for message in messages {
            let own: Container
            if let id = message.messageID, let existing = byID[id], existing.message == nil {
                existing.message = message
                own = existing
            } else {
                // No Message-ID, or one already taken: a container of its own.
                own = Container(message)
                all.append(own)
                if let id = message.messageID, byID[id] == nil { byID[id] = own }
            }
            var references = message.references
            if references.isEmpty, let first = message.inReplyTo.first { references = [first] }
            var previous: Container?
            for reference in references {
                let current = container(reference)
                if let previous, current.parent == nil, current !== previous, !current.isAncestor(of: previous) {
                    previous.adopt(current)
                }
                previous = current
            }
            if let parent = own.parent {
                parent.children.removeAll { $0 === own }
                own.parent = nil
            }
            if let previous, previous !== own, !own.isAncestor(of: previous) { previous.adopt(own) }
        }
        // (2) The roots; (3) placeholders pruned.
        var roots = prune(all.filter { $0.parent == nil }, atRoot: true)
        // (4) Ordered by date, so the first of a subject is found first.
        sort(&roots)
        // (5) Roots with the same base subject gathered; each root's subject read once.
        var subjectOf: [ObjectIdentifier: BaseSubject] = [:]
        for root in roots {
            if let representative = root.representative { subjectOf[ObjectIdentifier(root)] = BaseSubject(representative.subject) }
        }
        var subjects: [String: Container] = [:]
        for root in roots {
            guard let subject = subjectOf[ObjectIdentifier(root)], !subject.text.isEmpty else { continue }
            if let existing = subjects[subject.text] {
                let existingReply = subjectOf[ObjectIdentifier(existing)]?.isReply ?? false
                if (root.message == nil && existing.message != nil) || (existingReply && !subject.isReply) {
                    subjects[subject.text] = root
                }
            } else {
                subjects[subject.text] = root
            }
        }
        var merged: [Container] = []
        for root in roots {
            guard let subject = subjectOf[ObjectIdentifier(root)], !subject.text.isEmpty, let target = subjects[subject.text],
                  target !== root else {
                merged.append(root)
                continue
            }
            if target.message == nil && root.message == nil {
                for child in root.children { target.adopt(child) }
            } else if target.message == nil {
                target.adopt(root)
            } else if root.message == nil {
                root.adopt(target)
                subjects[subject.text] = root
                merged.removeAll { $0 === target }
                merged.append(root)
            } else if subject.isReply && !(subjectOf[ObjectIdentifier(target)]?.isReply ?? false) {
                target.adopt(root)
            } else {
                let placeholder = Container()
                if let index = merged.firstIndex(where: { $0 === target }) {
                    merged[index] = placeholder
                } else {
                    merged.append(placeholder)
                }
                placeholder.adopt(target)
                placeholder.adopt(root)
                subjects[subject.text] = placeholder
                subjectOf[ObjectIdentifier(placeholder)] = subjectOf[ObjectIdentifier(target)]
            }
        }
        // (6) Every set of siblings by date.
        sort(&merged)
        return merged.map(thread)
    }

    private static func prune(_ containers: [Container], atRoot: Bool) -> [Container] {
        var kept: [Container] = []
        for container in containers {
            container.children = prune(container.children, atRoot: false)
            for child in container.children { child.parent = container }
            if container.message == nil {
                if container.children.isEmpty { continue }
                // A placeholder goes, its children take its place, except that several
                // children at the top stay together under it.
                if !atRoot || container.children.count == 1 {
                    for child in container.children { child.parent = container.parent }
                    kept += container.children
                    continue
                }
            }
            kept.append(container)
        }
        return kept
    }

    private static func sort(_ containers: inout [Container]) {
        for container in containers { sort(&container.children) }
        containers.sort { a, b in
            guard let x = a.representative else { return false }
            guard let y = b.representative else { return true }
            return before(x, y)
        }
    }

    private static func thread(_ container: Container) -> MessageThread {
        MessageThread(id: container.message?.id, children: container.children.map(thread))
    }
}
