import Foundation
import IMAPWire
import Logging
import MailQuery
import Projections

/// What a SEARCH or SORT with RETURN asks for (RFC 4731 ESEARCH, RFC 5267 ESORT and
/// CONTEXT=SEARCH): MIN, MAX, COUNT, ALL, PARTIAL low:high, UPDATE.
struct SearchReturn: Equatable {
    var min = false, max = false, count = false, all = false, update = false
    /// RFC 5182 SEARCHRES: keep the result for `$`.
    var save = false
    var partial: ClosedRange<Int>?

    /// The options as the client gave them; nil for an unknown option or a bad PARTIAL range.
    /// `RETURN ()` means ALL (RFC 4731 §3.1).
    init?(_ options: [String]) {
        guard !options.isEmpty else {
            all = true
            return
        }
        var index = 0
        while index < options.count {
            switch options[index] {
            case "MIN": min = true
            case "MAX": max = true
            case "COUNT": count = true
            case "ALL": all = true
            case "UPDATE": update = true
            case "SAVE": save = true
            case "PARTIAL":
                // RFC 5267 §4.4: two positions from 1, in either order; no "*".
                guard partial == nil, index + 1 < options.count else { return nil }
                index += 1
                let bounds = options[index].split(separator: ":", omittingEmptySubsequences: false)
                guard bounds.count == 2, let a = Int(bounds[0]), let b = Int(bounds[1]), a > 0, b > 0,
                      a <= Int(UInt32.max), b <= Int(UInt32.max) else { return nil }
                partial = Swift.min(a, b)...Swift.max(a, b)
            default:
                return nil
            }
            index += 1
        }
    }

    /// RFC 5182 §2.4: SAVE alone answers nothing; with only MIN and/or MAX it saves those.
    var answers: Bool { min || max || count || all || partial != nil || update }

    /// What SAVE keeps of a result in its order.
    func saved(_ uids: [UInt32]) -> [UInt32] {
        guard !all, !count, partial == nil, !update, min || max else { return uids }
        return (min ? uids.min().map { [$0] } ?? [] : []) + (max ? uids.max().map { [$0] } ?? [] : [])
    }

    /// The return data after `(TAG "t") [UID]` for a result in its order (`values`: message
    /// numbers or UIDs; sorted results keep the sort order, so MIN and MAX are its first and
    /// last).
    func data(_ values: [UInt32], sorted: Bool) -> [String] {
        var parts: [String] = []
        if min, let first = sorted ? values.first : values.min() { parts.append("MIN \(first)") }
        if max, let last = sorted ? values.last : values.max() { parts.append("MAX \(last)") }
        if count { parts.append("COUNT \(values.count)") }
        if all, !values.isEmpty { parts.append("ALL \(Self.inOrder(values))") }
        if let partial {
            let low = partial.lowerBound - 1
            let slice = low < values.count ? Array(values[low..<Swift.min(values.count, partial.upperBound)]) : []
            parts.append("PARTIAL (\(partial.lowerBound):\(partial.upperBound) \(slice.isEmpty ? "NIL" : Self.inOrder(slice)))")
        }
        return parts
    }

    /// A sequence set that keeps the order of `values`: runs of consecutive ascending numbers
    /// become ranges (RFC 5267 §3.2's ALL of a sorted result).
    static func inOrder(_ values: [UInt32]) -> String {
        var parts: [String] = []
        var index = 0
        while index < values.count {
            var end = index
            while end + 1 < values.count && values[end + 1] == values[end] + 1 { end += 1 }
            parts.append(end == index ? "\(values[index])" : "\(values[index]):\(values[end])")
            index = end + 1
        }
        return parts.joined(separator: ",")
    }
}

/// One SORT criterion, `REVERSE` or not.
struct SortKey {
    let criterion: String
    let reversed: Bool
}

/// A SEARCH or SORT with RETURN (UPDATE) kept up to date (RFC 5267 §4) for the selected
/// mailbox: the UIDs it matched as last told to the client, in sort order for a SORT.
struct SearchContext {
    let tag: String
    let uid: Bool
    let key: IMAPSearchKey
    /// Nil for a SEARCH.
    let sort: [SortKey]?
    var order: [UInt32]

    init(tag: String, uid: Bool, key: IMAPSearchKey, sort: [SortKey]? = nil, order: [UInt32]) {
        self.tag = tag
        self.uid = uid
        self.key = key
        self.sort = sort
        self.order = order
    }

    /// Takes `gone` out of the result: for a SORT, each with its position as it is removed
    /// (RFC 5267 §4.3); for a SEARCH, position 0 for them all.
    mutating func remove(_ gone: Set<UInt32>) -> [(position: Int, uid: UInt32)] {
        var removed: [(Int, UInt32)] = []
        var index = 0
        while index < order.count {
            if gone.contains(order[index]) {
                removed.append((sort == nil ? 0 : index + 1, order[index]))
                order.remove(at: index)
            } else {
                index += 1
            }
        }
        return removed
    }

    /// Brings the result to `matched` (in sort order for a SORT): the removals, then the
    /// additions, each with its position in the result once it is in.
    mutating func update(to matched: [UInt32]) -> (removed: [(position: Int, uid: UInt32)], added: [(position: Int, uid: UInt32)]) {
        let removed = remove(Set(order).subtracting(matched))
        let kept = Set(order)
        var added: [(Int, UInt32)] = []
        for (index, uid) in matched.enumerated() where !kept.contains(uid) {
            added.append((sort == nil ? 0 : index + 1, uid))
        }
        order = sort == nil ? matched.sorted() : matched
        return (removed, added)
    }
}

extension IMAPSession {
    /// `key` with `$` (RFC 5182) replaced by the UIDs the last SEARCH saved.
    func substitutingSaved(_ key: IMAPSearchKey) -> IMAPSearchKey {
        switch key {
        case .sequence(let set) where set.saved:
            let ranges = savedResult.sorted().map { IMAPSequenceSet.Range(from: .number($0), to: .number($0)) }
            return .uid(IMAPSequenceSet(ranges: ranges))
        case .not(let inner): return .not(substitutingSaved(inner))
        case .or(let a, let b): return .or(substitutingSaved(a), substitutingSaved(b))
        case .and(let keys): return .and(keys.map(substitutingSaved))
        default: return key
        }
    }

    /// RFC 5267 §4.3: what changed in each live search since it was last told, as ADDTO and
    /// REMOVEFROM: position 0 and one set for a SEARCH, whose results are unordered; each
    /// message with its position for a SORT.
    func updateSearchContexts() async {
        guard !searchContexts.isEmpty, case .selected(let user, let current) = state else { return }
        for index in searchContexts.indices {
            let context = searchContexts[index]
            let matched: [UInt32]
            do {
                let items = try await matching(context.key, user: user)
                matched = (context.sort.map { Self.sorted(items, by: $0) } ?? items).map(\.message.uid)
            } catch {
                logger.warning("re-evaluating a live search failed", metadata: ["error": "\(error)"])
                continue
            }
            let (removed, added) = searchContexts[index].update(to: matched)
            var line = ""
            if !removed.isEmpty { line += " REMOVEFROM (\(Self.positioned(removed, of: context, in: current)))" }
            if !added.isEmpty { line += " ADDTO (\(Self.positioned(added, of: context, in: current)))" }
            if !line.isEmpty { untagged("ESEARCH (TAG \"\(context.tag)\")" + (context.uid ? " UID" : "") + line) }
        }
    }

    /// Own or others' expunges about to be reported: the live searches lose them first, told
    /// with the message numbers they had.
    func dropFromSearchContexts(_ gone: [UInt32], in current: Selected) {
        let gone = Set(gone)
        for index in searchContexts.indices {
            let context = searchContexts[index]
            let removed = searchContexts[index].remove(gone)
            guard !removed.isEmpty else { continue }
            untagged("ESEARCH (TAG \"\(context.tag)\")" + (context.uid ? " UID" : "")
                     + " REMOVEFROM (\(Self.positioned(removed, of: context, in: current)))")
        }
    }

    /// `0 set` for a SEARCH; `position value position value …` for a SORT. Values are UIDs
    /// or message numbers as the search asked.
    static func positioned(_ changes: [(position: Int, uid: UInt32)], of context: SearchContext, in current: Selected) -> String {
        func value(_ uid: UInt32) -> UInt32? { context.uid ? uid : current.sequenceNumber(of: uid).map(UInt32.init) }
        guard context.sort != nil else { return "0 " + compress(changes.compactMap { value($0.uid) }) }
        return changes.compactMap { change in value(change.uid).map { "\(change.position) \($0)" } }.joined(separator: " ")
    }
}
