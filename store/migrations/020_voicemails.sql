-- Voicemails the callers left (caller.VoicemailStore). Keyed by Twilio's recording SID: the
-- recording status callback and the transcription callback may each come more than once and in
-- either order. Times are Unix milliseconds. Portable SQL (SQLite and PostgreSQL).
CREATE TABLE voicemails (
    recording_sid        TEXT PRIMARY KEY,
    call_sid             TEXT NOT NULL DEFAULT '',
    from_number          TEXT NOT NULL DEFAULT '',
    to_number            TEXT NOT NULL DEFAULT '',
    department           TEXT NOT NULL DEFAULT '',
    recording_url        TEXT NOT NULL DEFAULT '',
    duration_s           INTEGER NOT NULL DEFAULT 0,
    transcription        TEXT NOT NULL DEFAULT '',
    transcription_status TEXT NOT NULL DEFAULT '',
    received_at          BIGINT NOT NULL
);
CREATE INDEX voicemails_received ON voicemails (received_at);
