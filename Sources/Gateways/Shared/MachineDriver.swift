/// Carries a protocol state machine's actions out, the same way for SMTP, IMAP and POP3: the
/// actions an input produced run in order, and an action that asks a question (a backend call,
/// STARTTLS, a body to read) has its answer fed back before the actions after it.
enum MachineDriver {
    static func feed<Input, Action>(_ input: Input, receive: (Input) -> [Action],
                                    perform: (Action) async -> Input?) async {
        var pending = receive(input)[...]
        while let action = pending.popFirst() {
            if let answer = await perform(action) {
                pending = receive(answer)[...] + pending
            }
        }
    }

    /// The same with a synchronous `perform` (a scripted backend in tests).
    static func feed<Input, Action>(_ input: Input, receive: (Input) -> [Action], perform: (Action) -> Input?) {
        var pending = receive(input)[...]
        while let action = pending.popFirst() {
            if let answer = perform(action) {
                pending = receive(answer)[...] + pending
            }
        }
    }
}
