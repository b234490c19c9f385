-- 0006: session state that every serve process on the database shares.
--
-- IMAP's \Recent (RFC 3501 §2.3.2) belongs to exactly one session, whichever process it runs in:
-- `recent_claims` keeps, per mailbox, the highest UID a session has claimed and the boundary
-- before the last claim, so one statement both claims and says where the caller's share starts.
--
-- The IPS scores a client address across every process: `ips_scores` holds each scored incident
-- (an IDS event, a failed login) with the time its process saw it; a process sums an address's
-- incidents within the period and prunes the address's older ones as it goes.
--
-- Neither is history: the facts behind them (ids_event_recorded, login_failed, client_blocked)
-- are in the log, and these rows may be lost at any time without harm beyond a fresh count.

CREATE TABLE runtime.recent_claims (
    owner        text   NOT NULL,
    mailbox_id   bigint NOT NULL,
    uid_validity bigint NOT NULL,
    highest      bigint NOT NULL,
    previous     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (owner, mailbox_id, uid_validity)
);

CREATE TABLE runtime.ips_scores (
    address text        NOT NULL,
    kind    text        NOT NULL,
    at      timestamptz NOT NULL,
    score   integer     NOT NULL
);
CREATE INDEX ips_scores_address ON runtime.ips_scores (address, kind, at);
