-- Issue 14, the caller side (SQLite's 020 and 021): the voicemails callers left, keyed by
-- Twilio's recording SID (its recording and transcription callbacks may each come more than once
-- and in either order), and the recordings of bridged conversations with the reservation whose
-- dequeue made them. Times are Unix milliseconds. New tables only: replicas of the previous
-- version never read them.
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
CREATE TABLE call_recordings (
    recording_sid   TEXT PRIMARY KEY,
    reservation_sid TEXT NOT NULL,
    task_sid        TEXT NOT NULL,
    call_sid        TEXT NOT NULL,
    recording_url   TEXT NOT NULL,
    duration_s      INTEGER NOT NULL,
    channels        INTEGER NOT NULL,
    received_at     BIGINT NOT NULL
);
CREATE INDEX call_recordings_task ON call_recordings (task_sid, received_at);
CREATE INDEX call_recordings_reservation ON call_recordings (reservation_sid);
