package handlers

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"queuebridge/caller"
	"queuebridge/taskrouter"
)

// voicemailRecording stores a voicemail when Twilio reports its recording completed. The query
// (rendered by Studio) names the caller, the number they called and their department. Other
// statuses (absent: nothing was said; failed) are acknowledged and not stored.
func (s *server) voicemailRecording(c echo.Context) error {
	form, err := s.verified(c)
	if err != nil {
		return err
	}
	r, err := caller.ParseRecordingStatus(form.Get)
	if err != nil {
		return err
	}
	q := c.Request().URL.Query()
	log := s.Logger.With("call", r.CallSID, "recording", r.RecordingSID)
	if !r.Completed() {
		log.Info("voicemail recording not kept", "status", r.Status)
		return c.NoContent(http.StatusNoContent)
	}
	v := caller.Voicemail{
		RecordingSID: r.RecordingSID, CallSID: r.CallSID, From: q.Get("from"), To: q.Get("to"),
		Department: q.Get("department"), RecordingURL: r.RecordingURL, Duration: r.Duration,
		ReceivedAt: s.Caller.now(),
	}
	created, err := s.Caller.Voicemails.SaveVoicemail(c.Request().Context(), v)
	if err != nil {
		return err
	}
	if created {
		log.Info("voicemail stored", "from", v.From, "department", v.Department, "duration_s", int(v.Duration.Seconds()))
		if s.Caller.OnVoicemail != nil {
			s.Caller.OnVoicemail(c.Request().Context(), v)
		}
	}
	return c.NoContent(http.StatusNoContent)
}

// voicemailTranscription stores a voicemail's transcription.
func (s *server) voicemailTranscription(c echo.Context) error {
	form, err := s.verified(c)
	if err != nil {
		return err
	}
	rec := form.Get("RecordingSid")
	if !taskrouter.ValidSID(rec, "RE") {
		return taskrouter.Errorf(taskrouter.EInvalid, "RecordingSid %q is not a RE… SID", rec)
	}
	status := form.Get("TranscriptionStatus")
	if status == "" {
		return taskrouter.Errorf(taskrouter.EInvalid, "TranscriptionStatus is missing")
	}
	if err := s.Caller.Voicemails.SaveTranscription(c.Request().Context(), rec, form.Get("TranscriptionText"), status, s.Caller.now()); err != nil {
		return err
	}
	if s.Caller.OnTranscription != nil {
		s.Caller.OnTranscription(c.Request().Context(), rec, form.Get("TranscriptionText"))
	}
	return c.NoContent(http.StatusNoContent)
}

// maxListed bounds a list answer.
const maxListed = 500

// voicemails lists the voicemails, newest first, as JSON (?limit=, default 100).
func (s *server) voicemails(c echo.Context) error {
	if err := s.operator(c); err != nil {
		return err
	}
	limit, err := listLimit(c)
	if err != nil {
		return err
	}
	list, err := s.Caller.Voicemails.ListVoicemails(c.Request().Context(), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"voicemails": list})
}

func listLimit(c echo.Context) (int, error) {
	v := c.QueryParam("limit")
	if v == "" {
		return 100, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxListed {
		return 0, taskrouter.Errorf(taskrouter.EInvalid, "limit %q: want 1 to %d", v, maxListed)
	}
	return n, nil
}

// operator lets through a request the operator page would let in (OPERATOR_TOKEN as
// "Authorization: Bearer …" or the page's login cookie, compared in constant time; in sandbox
// mode without a token, loopback); anything else is a 401 that says nothing of what is stored.
func (s *server) operator(c echo.Context) error {
	if s.Operator == nil || s.Operator.Allowed == nil {
		return echo.NewHTTPError(http.StatusUnauthorized, "the operator routes are off: set OPERATOR_TOKEN")
	}
	if !s.Operator.Allowed(c.Request()) {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="queuebridge operator"`)
		return echo.NewHTTPError(http.StatusUnauthorized, "the operator token is required (Authorization: Bearer …)")
	}
	return nil
}
