/// Read models derived from the event log: mailboxes, the directory, the outqueue, LogDB and the
/// other tables gateways and administrators read. Each one can be dropped and rebuilt from the
/// log to the same digest.
public enum Projections {}
