/// Every projection Pillarbox maintains, in the order they are prepared.
public enum PillarboxProjections {
    public static var all: [any Projection] {
        [DirectoryProjection(), SettingsProjection(), MailboxProjection(), OutqueueProjection(), BlocksProjection(),
         LogDBProjection(), SMTPStatsProjection(), MessageAuditProjection(), DMARCProjection(),
         TLSReportProjection(), AdminTokensProjection(), CollectionProjection(), AutoresponderProjection(),
         ListsProjection()]
    }
}
