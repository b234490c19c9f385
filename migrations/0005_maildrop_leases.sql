-- 0005: POP3 maildrop leases, shared by every serve process on the database.
--
-- RFC 1939 gives one session at a time a user's maildrop. A session takes the lease when it logs
-- in, renews it while it lasts, and gives it up at its end; a lease whose process died runs out
-- (`expires_at`) and is then free. Nothing here is history: a row says who holds a maildrop now,
-- and the log never refers to it.

CREATE SCHEMA runtime;

CREATE TABLE runtime.maildrop_leases (
    user_id    text PRIMARY KEY,
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL
);
