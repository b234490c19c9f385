import EventLog
import Facts
import Foundation
import Logging
import MailCore
import Routing
import SMTPWire
import WireCore

/// What goes in and out of an SMTP state machine, and what it keeps while a command waits.
extension SMTPStateMachine {
    /// What the machine reads without asking: the time, fresh ids, the settings as they stand.
    struct Environment {
        var now: @Sendable () -> Date
        var makeID: @Sendable () -> String
        var policy: @Sendable () -> SMTPPolicy
        /// Whether an address is blocked now (the IPS, the login IPS or an administrator).
        var isBlocked: @Sendable (String) -> Bool
    }

    enum Input {
        case connected
        /// A line without its CRLF (a command, or a response inside AUTH); `buffered` octets
        /// arrived after it.
        case line(ArraySlice<UInt8>, buffered: Int)
        /// The input broke a line rule (too long, a bare CR or LF).
        case inputError(LineError)
        case timedOut
        case closed
        case tlsStarted(version: String?)
        /// Bytes arrived in plain text after STARTTLS's reply, before TLS began.
        case plainTextAfterSTARTTLS
        case bodyRead(BodyRead)
        /// The finished body, or nil when finishing the spool failed.
        case bodyFinished(FinishedBody?)
        /// Answers to the calls the machine asked for.
        case idsRecorded(score: Int)
        case senderChecked(Bool)
        case spfChecked(SMTPSPFResult)
        /// The checks on the finished message, and the body with its results written in (nil
        /// when rewriting it failed).
        case authenticated(SMTPAuthentication, FinishedBody?)
        case resolved(SMTPRecipientDecision)
        case storageChecked(StorageCheck)
        case expanded([String]?)
        case passwordChecked(Bool)
        case credentials(Credentials?)
        case userFound(UserRecord?)
        case accepted(Bool)
    }

    /// What reading a body (all of DATA, or one BDAT chunk) came to.
    enum BodyRead: Equatable {
        /// Read to its end: the scanner's error, the octets it produced, whether storing failed,
        /// and how many octets arrived after it.
        case read(error: LineError?, produced: Int, spoolFailed: Bool, buffered: Int)
        /// The connection ended (or timed out) before the body did.
        case connectionEnded(timedOut: Bool)
    }

    /// A body read to its end and stored (in memory or spooled).
    struct FinishedBody {
        var body: SMTPMessageBody
        var blob: BlobID
        var size: Int
        var containsNUL: Bool
        var head: [UInt8]
        var returnPathLength: Int
        /// Bytes of our trace lines at the start (the client's message follows).
        var traceLength: Int
    }

    enum BodyRequest: Equatable {
        /// DATA: dot-unstuffed to CRLF.CRLF; store up to `limit` octets.
        case data(limit: Int, lineLimit: Int)
        /// A BDAT chunk of `size` octets; `store` false reads and drops it.
        case chunk(size: Int, last: Bool, limit: Int, lineLimit: Int, store: Bool)
    }

    enum Action {
        case send([UInt8])
        /// Drop whatever input is buffered (it was pipelined where it may not be).
        case discardInput
        /// Send `reply` in plain text, then switch to TLS; `.tlsStarted` follows (or
        /// `.plainTextAfterSTARTTLS`, `.closed`).
        case startTLS(reply: [UInt8])
        /// Open the transaction's body with its trace lines first (`messageID` names it).
        case openBody(messageID: String, trace: [UInt8], returnPathLength: Int)
        /// Read into the open body; answer with `.bodyRead`.
        case readBody(BodyRequest)
        /// Finish the open body; answer with `.bodyFinished`.
        case finishBody
        /// Drop the open body and its spool file.
        case discardBody
        /// Remove a finished body's spool file (its message was refused).
        case removeSpool(String)
        /// Answer with `.idsRecorded`.
        case recordIDS(IntrusionEventRecorded.Kind, details: String, append: Bool, session: SMTPSessionContext)
        /// Answer with `.senderChecked`.
        case checkSender(String, user: UserRecord)
        /// Check the finished message (DKIM, DMARC), put the results into it and take out any
        /// claiming to be ours; answer with `.authenticated`.
        case authenticate(FinishedBody, spf: SMTPSPFResult?, policy: SMTPPolicy)
        /// Answer with `.spfChecked`.
        case checkSPF(client: String, sender: String, helo: String)
        /// Answer with `.resolved`.
        case resolve(SMTPPath, session: SMTPSessionContext, policy: SMTPPolicy)
        /// Answer with `.storageChecked`.
        case checkStorage(user: String, adding: Int)
        /// Answer with `.expanded`.
        case expand(String)
        /// Answer with `.passwordChecked`.
        case checkPassword(user: String, password: String)
        /// Answer with `.credentials`.
        case lookUpCredentials(user: String, mechanism: SASLMechanism)
        /// Answer with `.userFound`.
        case lookUpUser(String)
        /// Make the message durable; answer with `.accepted`.
        case accept(SMTPMessage, notes: [SMTPIDSNote], session: SMTPSessionContext)
        case log(Logger.Level, String, Logger.Metadata)
        /// The session is over: close the connection and record how it went.
        case close(SessionEnded, rejected: [MessageRejected], notes: [SMTPIDSNote], session: SMTPSessionContext)
    }

    /// What the machine waits for.
    enum Wait: Equatable {
        case commandLine(limit: Int)
        case authLine(limit: Int)
        /// TLS to start, a body to be read, or a backend answer: no line to read.
        case action
        case closed
    }

    struct Transaction {
        /// Tells one transaction from the next (for the session log).
        var number: Int
        var reversePath: SMTPPath?
        var parameters: SMTPMailParameters
        var recipients: [SMTPAcceptedRecipient] = []
        var usedBDAT = false
        var usedData = false
        var bodyOpen = false
        var messageID = ""
        var returnPathLength = 0
        /// The SPF check of the reverse-path, when one was made.
        var spf: SMTPSPFResult?
        /// The checks made once the message was in.
        var dkim: [DKIMCheck]?
        var dmarc: DMARCCheck?
        var arc: String?
        /// Set once a chunk failed: later chunks are read and dropped.
        var failed = false
        /// Recipients refused so far (the first `SMTPSessionLog.refusedKept`).
        var refused: [RefusedRecipient] = []
        /// The reply that failed the transaction, kept for the session log.
        var failure: String?
        var accepted = false
        var bodyStarted: Date?
        var bodyBytes: Int64 = 0
    }

    /// Where a command goes once a backend call (or a body read) answers.
    enum Continuation {
        /// After an IDS event: fold the repeat into the notes, then carry on.
        case ids(IntrusionEventRecorded.Kind, details: String, first: Bool, then: Next)
        case mailSender(SMTPPath?, SMTPMailParameters)
        case spf(SMTPPath?, SMTPMailParameters)
        case recipientResolved(SMTPPath, SMTPRecipientParameters)
        case recipientStorage(SMTPPath, SMTPRecipientParameters, SMTPRecipientDecision)
        case verifyResolved(SMTPPath)
        case expanded
        case sasl(SASLDriver)
        case saslUser(SASLMechanism)
        case tls
        case dataBody(limit: Int)
        case chunk(size: Int, last: Bool, limit: Int, failedBefore: Bool)
        case completeStorage(pending: [String], checks: [StorageCheck], size: Int)
        case completeSender(pending: [String], user: UserRecord)
        case finish
        case authenticate
        case accept(SMTPMessage)
    }

    /// How a command ends once its last step is done.
    enum Next {
        case proceed
        /// Close, recording the last reply (or nothing for 221).
        case close
        /// Close with this error code in the session record.
        case closeWith(String)
        /// A protocol error was counted: too many end the session.
        case afterProtocolError
        /// A failed AUTH: too many, or an address the IPS just blocked, end the session.
        case afterAuthFailure
    }
}
