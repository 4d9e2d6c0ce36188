package app

import (
	"context"

	"queuebridge/caller"
	"queuebridge/handlers"
	"queuebridge/operator"
	"queuebridge/twiliogo"
)

// callerConfig wires the caller side's routes: the wait, voicemail, opening hours, recordings
// and the SMS afterwards. With the operator page on (page not nil), the voicemails and call
// recordings stored are shown on it too.
func callerConfig(cfg Config, tw *twiliogo.API, db Store, page *operator.Model) *handlers.CallerConfig {
	cc := &handlers.CallerConfig{
		Tasks:      twiliogo.CallerTasks{API: tw, WorkspaceSID: cfg.WorkspaceSID},
		Voicemails: db, RecordCalls: cfg.RecordCalls, Recordings: db,
	}
	if page != nil {
		cc.OnVoicemail = func(_ context.Context, v caller.Voicemail) { page.AddVoicemail(v) }
		cc.OnTranscription = func(_ context.Context, sid, text string) { page.SetTranscription(sid, text) }
		cc.OnRecording = func(_ context.Context, r caller.CallRecording) { page.AddRecording(r) }
	}
	return cc
}
