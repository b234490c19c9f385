import EventLog

/// Every event type this version of Pillarbox records. A consumer reads the types it needs and
/// passes over these others silently (`EventTypeRegistry(_:passingOver:)`); only a type missing
/// here (written by a newer version) is worth a warning.
public enum EventCatalogue {
    public static let all: [any Event.Type] = [
        DomainAdded.self,
        DomainRemoved.self,
        DefaultDomainSet.self,
        UserCreated.self,
        UserChanged.self,
        UserRemoved.self,
        AliasAdded.self,
        AliasRemoved.self,
        GroupCreated.self,
        GroupChanged.self,
        GroupRemoved.self,
        GroupMemberAdded.self,
        GroupMemberRemoved.self,
        ListCreated.self,
        ListRemoved.self,
        ListMemberAdded.self,
        ListMemberRemoved.self,
        MessageAccepted.self,
        MailAccountOpened.self,
        MailAccountClosed.self,
        MailboxCreated.self,
        MailboxRenamed.self,
        MailboxDeleted.self,
        MailboxSubscriptionChanged.self,
        MessageDelivered.self,
        MessageAppended.self,
        MessageFlagsChanged.self,
        MessagesExpunged.self,
        MessagesCopied.self,
        MessagesMoved.self,
        IntrusionEventRecorded.self,
        ClientBlocked.self,
        ClientUnblocked.self,
        LoginFailed.self,
        ServerStarted.self,
        ServerStopped.self,
        SessionEnded.self,
        MessageRejected.self,
        SettingChanged.self,
    ]
}
