/// Every projection Pillarbox maintains, in the order they are prepared.
public enum Pillarbox {
    public static var projections: [any Projection] {
        [DirectoryProjection(), SettingsProjection(), MailboxProjection()]
    }
}
