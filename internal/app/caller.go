package app

import (
	"context"
	"log/slog"
	"time"

	"queuebridge/caller"
	"queuebridge/handlers"
	"queuebridge/operator"
	"queuebridge/twiliogo"
)

// callerConfig wires the caller side's routes: the wait, voicemail, opening hours, recordings
// and the SMS afterwards. A new voicemail goes to the SMS sender and, with the operator page on
// (page not nil), the voicemails and call recordings stored are shown on it too.
func callerConfig(cfg Config, tw *twiliogo.API, db Store, page *operator.Model, sms *caller.SMSSender) *handlers.CallerConfig {
	cc := &handlers.CallerConfig{
		Tasks:       twiliogo.CallerTasks{API: tw, WorkspaceSID: cfg.WorkspaceSID},
		Voicemails:  db,
		RecordCalls: cfg.RecordCalls, Recordings: db,
		SMS:         sms,
		OnVoicemail: func(_ context.Context, v caller.Voicemail) { sms.Voicemail(v) },
	}
	if page != nil {
		cc.OnVoicemail = func(_ context.Context, v caller.Voicemail) {
			sms.Voicemail(v)
			page.AddVoicemail(v)
		}
		cc.OnTranscription = func(_ context.Context, sid, text string) { page.SetTranscription(sid, text) }
		cc.OnRecording = func(_ context.Context, r caller.CallRecording) { page.AddRecording(r) }
	}
	return cc
}

// newSMSSender builds the SMS afterwards: its status callback route always runs (a message
// sent before SMS_TEXT was unset still reports), Notify does nothing while SMS_TEXT is unset.
func newSMSSender(cfg Config, tw *twiliogo.API, db Store, log *slog.Logger, now func() time.Time) *caller.SMSSender {
	return caller.NewSMSSender(caller.SMSSenderConfig{
		Settings: cfg.SMS, Store: db, Messages: twiliogo.Messages{API: tw},
		StatusCallback: handlers.NewURLs(cfg.PublicBaseURL).SMSStatus(), Logger: log, Now: now,
	})
}
