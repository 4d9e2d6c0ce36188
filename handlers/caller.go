package handlers

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/twilio/twilio-go/twiml"

	"queuebridge/caller"
)

// CallerConfig wires the caller side's routes (the wait, voicemail, opening hours, recordings,
// SMS); nil leaves them out.
type CallerConfig struct {
	// Tasks cancels the task of a caller who leaves the queue for voicemail.
	Tasks caller.Tasks
	// Voicemails keeps the voicemails.
	Voicemails caller.VoicemailStore
	// RecordCalls records bridged conversations (RECORD_CALLS); Recordings keeps them.
	RecordCalls bool
	Recordings  caller.RecordingStore
	// SMS receives the SMS status callbacks and lists the SMS sent (nil: the routes answer 404).
	SMS SMSDesk
	// OnVoicemail, when set, is told of each new voicemail once it is stored.
	OnVoicemail func(ctx context.Context, v caller.Voicemail)
	// OnTranscription, when set, is told of each voicemail transcription once it is stored.
	OnTranscription func(ctx context.Context, recordingSID, text string)
	// OnRecording, when set, is told of each call recording once it is stored (again for a
	// repeated delivery: it must be idempotent by recording SID).
	OnRecording func(ctx context.Context, r caller.CallRecording)
	// Now is the clock of the records (time.Now when nil).
	Now func() time.Time
}

func (cc *CallerConfig) now() time.Time {
	if cc.Now != nil {
		return cc.Now().UTC()
	}
	return time.Now().UTC()
}

// cancelTimeout bounds the TaskRouter requests a key press makes before its answer.
const cancelTimeout = 5 * time.Second

func (s *server) callerRoutes(e *echo.Echo) {
	if s.Caller == nil {
		return
	}
	e.POST(PathWait, s.wait)
	e.POST(PathWaitKey, s.waitKey)
	e.GET(PathHoldMusic, s.holdMusic)
	e.POST(PathVoicemailRecording, s.voicemailRecording)
	e.POST(PathVoicemailTranscription, s.voicemailTranscription)
	e.GET(PathVoicemails, s.voicemails)
	e.POST(PathHours, s.hours)
	e.POST(PathRecording, s.recordingCallback)
	e.GET(PathTaskRecordings, s.taskRecordings)
	if s.Caller.SMS != nil {
		e.POST(PathSMSStatus, s.smsStatus)
		e.GET(PathSMS, s.smsList)
	}
}

// waitRequest verifies a request of the wait (/queue-wait, /queue-wait/key) and reads the wait's
// settings from its URL.
func (s *server) waitRequest(c echo.Context) (twilioForm, caller.WaitSettings, error) {
	form, err := s.verified(c)
	if err != nil {
		return twilioForm{}, caller.WaitSettings{}, err
	}
	w, err := ParseWaitSettings(c.Request().URL.Query())
	return form, w, err
}

// wait answers the queue's waitUrl: an announcement of the caller's place and expected wait,
// the voicemail key's prompt, then hold music for about the announcement interval, all inside a
// <Gather> when a key is offered. When the document ends Twilio requests the waitUrl again.
func (s *server) wait(c echo.Context) error {
	form, w, err := s.waitRequest(c)
	if err != nil {
		return err
	}
	status, err := caller.ParseQueueStatus(form.Get)
	if err != nil {
		return err
	}
	urls := NewURLs(s.PublicBaseURL)
	plan := caller.PlanWait(w, status, urls.HoldMusic())
	var inner []twiml.Element
	for _, text := range []string{plan.Announcement, plan.KeyPrompt} {
		if text != "" {
			inner = append(inner, &twiml.VoiceSay{Message: text, Voice: w.Voice, Language: w.Language})
		}
	}
	inner = append(inner, &twiml.VoicePlay{Url: plan.MusicURL, Loop: itoa(plan.MusicLoops)})
	verbs := inner
	if w.VoicemailKey != "" {
		verbs = []twiml.Element{&twiml.VoiceGather{
			Input: "dtmf", NumDigits: "1", Timeout: "1", Action: urls.WaitKey(w), Method: http.MethodPost,
			InnerElements: inner,
		}}
	}
	return renderVoice(c, verbs)
}

// waitKey answers the wait's <Gather> action. The voicemail key cancels the caller's task and
// leaves the queue (<Leave/>): Studio's Enqueue Call widget then sees QueueResult=leave and the
// flow records the voicemail. Any other key goes back to waiting.
func (s *server) waitKey(c echo.Context) error {
	form, w, err := s.waitRequest(c)
	if err != nil {
		return err
	}
	callSID := form.Get("CallSid")
	if err := checkSIDs(map[string][2]string{"CallSid": {callSID, "CA"}}); err != nil {
		return err
	}
	urls := NewURLs(s.PublicBaseURL)
	if w.VoicemailKey == "" || form.Get("Digits") != w.VoicemailKey {
		return renderVoice(c, []twiml.Element{&twiml.VoiceRedirect{Url: urls.Wait(w), Method: http.MethodPost}})
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), cancelTimeout)
	defer cancel()
	// Leaving the queue ends the task at Twilio too (the caller is gone); the explicit cancel
	// gives it a reason and does not rely on that. A failure still lets the caller leave.
	task, err := s.Caller.Tasks.CancelCallTask(ctx, callSID, "caller chose voicemail")
	log := s.Logger.With("call", callSID, "task", task)
	if err != nil {
		log.Warn("caller chose voicemail: the task could not be canceled", "err", err)
	} else {
		log.Info("caller chose voicemail: task canceled, leaving the queue")
	}
	return renderVoice(c, []twiml.Element{&twiml.VoiceLeave{}})
}

// holdMusic serves the built-in hold music. It is not signed: Twilio fetches <Play> media like
// any HTTP client, and the file is the same for everyone and changes nothing.
func (s *server) holdMusic(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=86400")
	return c.Blob(http.StatusOK, "audio/wav", caller.HoldMusic())
}

func renderVoice(c echo.Context, verbs []twiml.Element) error {
	xml, err := twiml.Voice(verbs)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "text/xml; charset=utf-8", []byte(xml))
}

func itoa(n int) string {
	if n <= 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// hours answers Studio's opening-hours check with {"open": true|false}: the flow sends a caller
// outside the schedule to the closed message and voicemail before any task exists.
func (s *server) hours(c echo.Context) error {
	form, err := s.verified(c)
	if err != nil {
		return err
	}
	q := c.Request().URL.Query()
	sched, err := caller.ParseSchedule(q.Get("tz"), q.Get("week"), q.Get("closed"))
	if err != nil {
		return err
	}
	now := s.Caller.now()
	open := sched.Open(now)
	if !open {
		s.Logger.Info("call outside opening hours", "call", form.Get("CallSid"), "local_time", now.In(sched.Location).Format(time.DateTime))
	}
	return c.JSON(http.StatusOK, map[string]any{"open": open, "local_time": now.In(sched.Location).Format(time.RFC3339)})
}
