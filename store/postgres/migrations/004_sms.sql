-- The SMS afterwards (caller.SMSStore): one row per caller number and day, claimed before
-- Twilio is asked to create the message (at most once a day), with what became of it; and the
-- numbers Twilio said cannot take our SMS (opted out, landline, not a mobile number). Times are
-- Unix milliseconds. SQLite's 022; new tables only: replicas of the previous version never read them.
CREATE TABLE sms_sent (
    to_number   TEXT NOT NULL,
    day         TEXT NOT NULL,
    from_number TEXT NOT NULL,
    reason      TEXT NOT NULL,
    call_sid    TEXT NOT NULL DEFAULT '',
    message_sid TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL,
    error_code  INTEGER NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (to_number, day)
);
CREATE INDEX sms_sent_message ON sms_sent (message_sid);
CREATE INDEX sms_sent_created ON sms_sent (created_at);
CREATE TABLE sms_unreachable (
    number     TEXT PRIMARY KEY,
    error_code INTEGER NOT NULL,
    at         BIGINT NOT NULL
);
