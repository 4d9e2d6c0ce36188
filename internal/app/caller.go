package app

import (
	"queuebridge/handlers"
	"queuebridge/twiliogo"
)

// callerConfig wires the caller side's routes: the wait, voicemail, opening hours, recordings
// and the SMS afterwards.
func callerConfig(cfg Config, tw *twiliogo.API, db Store) *handlers.CallerConfig {
	return &handlers.CallerConfig{
		Tasks:       twiliogo.CallerTasks{API: tw, WorkspaceSID: cfg.WorkspaceSID},
		Voicemails:  db,
		RecordCalls: cfg.RecordCalls, Recordings: db,
	}
}
