import EventLog
import Foundation
import NIOCore
import PostgresNIO

/// The reads IMAP and POP3 make for nearly every command, as prepared statements: each
/// connection has PostgreSQL parse and plan them once, where a plain query is parsed, analysed
/// and planned again every time. Each takes only plain equality and array parameters, so the
/// plan PostgreSQL settles on for any values is the one it would pick for these.
enum MailReaderStatements {
    typealias MailboxRow = (Int64, String, Int64, Int64, Int64, String?, Bool, Int64, Int64)
    typealias MessageRow = (Int64, Int64, [String], Date, Int64, ByteBuffer, Date?)

    static let mailboxColumns = """
        mailbox_id, name, uidvalidity, uidnext, highestmodseq, special_use, selectable, messages, bytes
        """

    struct MailboxByID: PostgresPreparedStatement {
        static let sql = "SELECT \(mailboxColumns) FROM mail.mailboxes WHERE user_id = $1 AND mailbox_id = $2"
        typealias Row = MailboxRow
        let user: String
        let id: Int64

        func makeBindings() throws -> PostgresBindings { .parameters(user, id) }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    struct MailboxByName: PostgresPreparedStatement {
        static let sql = "SELECT \(mailboxColumns) FROM mail.mailboxes WHERE user_id = $1 AND name = $2"
        typealias Row = MailboxRow
        let user: String
        let name: String

        func makeBindings() throws -> PostgresBindings { .parameters(user, name) }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// Every message of a folder, in UID order.
    struct AllMessages: PostgresPreparedStatement {
        static let sql = """
            SELECT uid, modseq, flags, internal_date, size, blob, saved_at FROM mail.messages
            WHERE user_id = $1 AND mailbox_id = $2 ORDER BY uid
            """
        typealias Row = MessageRow
        let user: String
        let mailbox: Int64

        func makeBindings() throws -> PostgresBindings { .parameters(user, mailbox) }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// The messages of a folder with the given UIDs, in UID order.
    struct MessagesByUID: PostgresPreparedStatement {
        static let sql = """
            SELECT uid, modseq, flags, internal_date, size, blob, saved_at FROM mail.messages
            WHERE user_id = $1 AND mailbox_id = $2 AND uid = ANY($3) ORDER BY uid
            """
        typealias Row = MessageRow
        let user: String
        let mailbox: Int64
        let uids: [Int64]

        func makeBindings() throws -> PostgresBindings { .parameters(user, mailbox, uids) }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// Messages added or changed and UIDs expunged after a MODSEQ, from one snapshot.
    struct Changes: PostgresPreparedStatement {
        static let sql = """
            SELECT uid, modseq, flags, internal_date, size, blob FROM mail.messages
            WHERE user_id = $1 AND mailbox_id = $2 AND modseq > $3
            UNION ALL
            SELECT uid, modseq, NULL, NULL, NULL, NULL FROM mail.expunged
            WHERE user_id = $1 AND mailbox_id = $2 AND modseq > $3
            ORDER BY 1
            """
        typealias Row = (Int64, Int64, [String]?, Date?, Int64?, ByteBuffer?)
        let user: String
        let mailbox: Int64
        let modSeq: Int64

        func makeBindings() throws -> PostgresBindings { .parameters(user, mailbox, modSeq) }

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }
}
