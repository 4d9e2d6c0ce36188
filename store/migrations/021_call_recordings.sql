-- Recordings of bridged conversations (caller.RecordingStore), one row per Twilio recording,
-- with the reservation whose dequeue made it and its task. Times are Unix milliseconds.
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
