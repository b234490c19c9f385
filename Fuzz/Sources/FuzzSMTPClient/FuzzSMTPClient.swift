import FuzzDriver
import SMTPClient
import SMTPWire

/// Any bytes as a relay's side of a session with a client that logs in: the replies drive
/// the client state machine (greeting, EHLO, STARTTLS, AUTH challenges, a transaction) to its
/// end without a crash; and the same bytes, cut at NULs, as challenges to every SASL mechanism.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSMTPClient(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var reader = SMTPReplyReader()
    reader.append(bytes[...])
    var machine = SMTPClientStateMachine(configuration: .init(
        ehloName: "client.example", authentication: .init(user: "user", password: "pencil", nonce: "fuzznonce", passwordInClear: true)))
    let envelope = OutboundEnvelope(sender: "a@example.com", recipients: [.init(address: "b@example.net")], size: 10)
    var steps = 0
    while steps < 64, let reply = try? reader.next() {
        steps += 1
        var action = machine.received(reply)
        while true {
            switch action {
            case .startTLS: action = machine.tlsEstablished()
            case .ready: action = machine.send(envelope)
            case .sendBody: action = machine.bodySent()
            case .finished: action = machine.quit()
            case .send, .wait, .failed, .close: break
            }
            if case .send = action { break }
            if case .wait = action { break }
            if case .failed = action { return 0 }
            if case .close = action { return 0 }
        }
    }
    for mechanism in SASLClient.Mechanism.allCases {
        var client = SASLClient(mechanism: mechanism, user: "user", password: "pencil", nonce: "fuzznonce")
        _ = client.initialResponse()
        for challenge in bytes.split(separator: 0, omittingEmptySubsequences: false).prefix(4) {
            guard (try? client.respond(to: Array(challenge))) != nil else { break }
        }
    }
    return 0
}

/// SwiftPM links an executable's entry point under this name.
@_cdecl("FuzzSMTPClient_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv, fuzzSMTPClient)
}
