// Package handlers is queuebridge's HTTP adapter: it checks that a request comes from Twilio,
// parses it into the domain's types, calls the bridge and renders its decision as TwiML or a
// status. It makes no business decision of its own.
package handlers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"queuebridge/internal/fifo"
	"queuebridge/taskrouter"
)

// Bridge is what the handlers need of the domain.
type Bridge interface {
	HandleEvent(ctx context.Context, e taskrouter.Event) error
	AgentAnswered(ctx context.Context, a taskrouter.Answer) (taskrouter.Instruction, error)
	AgentConfirmed(ctx context.Context, c taskrouter.Confirmation) (taskrouter.Instruction, error)
	DialEnded(ctx context.Context, d taskrouter.DialResult) (taskrouter.Instruction, error)
	AgentCallStatus(ctx context.Context, u taskrouter.CallUpdate) error
}

// Config wires the server.
type Config struct {
	Bridge Bridge
	// AuthToken checks X-Twilio-Signature.
	AuthToken string
	// PublicBaseURL is the URL Twilio used to reach us; signatures are computed over it, never
	// over the Host header, which a proxy may have changed.
	PublicBaseURL string
	// Ready reports whether the service can do its work (for /readyz); its error is the reason
	// /readyz gives.
	Ready func(ctx context.Context) error
	// Metrics serves /metrics; nil answers 404.
	Metrics http.Handler
	// Observe, when set, is told of every request: its route, status and duration.
	Observe func(route string, status int, took time.Duration)
	// MaxBody bounds a webhook's body (default 64 KiB; Twilio's are a few KiB).
	MaxBody int64
	Logger  *slog.Logger
	// Caller wires the caller side's routes (caller.go); nil leaves them out.
	Caller *CallerConfig
	// Operator serves the live operator page's routes; nil: they answer 404.
	Operator *OperatorRoutes
	// OnEvent, when set, is told of every TaskRouter event the bridge handled (or ignored)
	// without error: the operator page's view of callers and agents. It must not block.
	OnEvent func(taskrouter.Event)
}

// OperatorRoutes are the operator page's handlers (package operator builds them).
type OperatorRoutes struct {
	// Page serves GET /operator, Events its stream, Login and Logout the token's cookie.
	Page, Events, Login, Logout http.Handler
	// Allowed says whether a request may read what the page shows (the operator token as a
	// bearer header or the login cookie): the voicemail and recording lists ask it too.
	// Nil: nobody may.
	Allowed func(*http.Request) bool
}

type server struct {
	Config
	signer  *signer
	sigWarn warnLimiter
	// rendered holds the agent leg's recent TwiML answers (twiml.go): a retried request gets
	// the same bytes without rendering them again.
	rendered *fifo.Cache[renderKey, []byte]
}

// New returns the HTTP server with every route (see routes.go).
func New(cfg Config) *echo.Echo {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 64 << 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &server{Config: cfg, signer: newSigner(cfg.AuthToken, strings.TrimRight(cfg.PublicBaseURL, "/")),
		rendered: fifo.New[renderKey, []byte](renderedSize, renderedAge)}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	s.routes(e)
	return e
}

// twilioForm is a webhook's parsed, signature-checked form.
type twilioForm struct {
	url.Values
}

// verified reads the form body (bounded), and checks X-Twilio-Signature over PUBLIC_BASE_URL +
// path + query and the POST parameters. A failure changes nothing and answers 403.
func (s *server) verified(c echo.Context) (twilioForm, error) {
	req := c.Request()
	body, err := io.ReadAll(io.LimitReader(req.Body, s.MaxBody+1))
	if err != nil {
		return twilioForm{}, taskrouter.Errorf(taskrouter.EInvalid, "reading body: %v", err)
	}
	if int64(len(body)) > s.MaxBody {
		return twilioForm{}, echo.NewHTTPError(http.StatusRequestEntityTooLarge, "body larger than the limit")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return twilioForm{}, taskrouter.Errorf(taskrouter.EInvalid, "body is not form-encoded: %v", err)
	}
	sig := req.Header.Get("X-Twilio-Signature")
	if sig == "" {
		return twilioForm{}, taskrouter.Errorf(taskrouter.EUnauthorized, "X-Twilio-Signature is missing")
	}
	if !s.signer.valid(req.URL.RequestURI(), form, sig) {
		return twilioForm{}, taskrouter.Errorf(taskrouter.EUnauthorized, "X-Twilio-Signature does not match this request")
	}
	return twilioForm{form}, nil
}

// events receives TaskRouter's event callbacks. Ignored event types get a 200 too.
func (s *server) events(c echo.Context) error {
	form, err := s.verified(c)
	if err != nil {
		return err
	}
	ev, err := taskrouter.ParseEvent(form.Values)
	if err != nil {
		return err
	}
	if err := s.Bridge.HandleEvent(c.Request().Context(), ev); err != nil {
		return err
	}
	if s.OnEvent != nil {
		s.OnEvent(ev)
	}
	return c.NoContent(http.StatusOK)
}

// dialQueue answers the agent leg's TwiML request (after AMD) and the Dial's action request.
func (s *server) dialQueue(c echo.Context) error {
	form, leg, err := s.agentLeg(c)
	if err != nil {
		return err
	}
	reservation, task, callSID := leg.reservation, leg.task, leg.callSID
	var ins taskrouter.Instruction
	if dialStatus := form.Get("DialCallStatus"); dialStatus != "" {
		ins, err = s.Bridge.DialEnded(c.Request().Context(), taskrouter.DialResult{
			ReservationSID: reservation, TaskSID: task, CallSID: callSID, DialCallStatus: taskrouter.CallStatus(dialStatus),
		})
	} else {
		var answeredBy taskrouter.AnsweredBy
		if answeredBy, err = taskrouter.ParseAnsweredBy(form.Get("AnsweredBy")); err != nil {
			return err
		}
		ins, err = s.Bridge.AgentAnswered(c.Request().Context(), taskrouter.Answer{
			ReservationSID: reservation, TaskSID: task, CallSID: callSID, AnsweredBy: answeredBy,
		})
	}
	if err != nil {
		return err
	}
	return s.twimlResponse(c, ins, leg)
}

// legRequest names the agent leg a signed Voice request about it concerns.
type legRequest struct{ reservation, task, callSID string }

// agentLeg verifies a Voice request about an agent leg (/dial-queue, /agent-confirm) and reads
// its reservation and task (query) and CallSid (form), refusing malformed SIDs.
func (s *server) agentLeg(c echo.Context) (twilioForm, legRequest, error) {
	form, err := s.verified(c)
	if err != nil {
		return twilioForm{}, legRequest{}, err
	}
	q := c.Request().URL.Query()
	leg := legRequest{reservation: q.Get("reservation"), task: q.Get("task"), callSID: form.Get("CallSid")}
	if err := checkSIDs(map[string][2]string{
		"reservation": {leg.reservation, taskrouter.PrefixReservation},
		"task":        {leg.task, taskrouter.PrefixTask},
		"CallSid":     {leg.callSID, taskrouter.PrefixCall},
	}); err != nil {
		return twilioForm{}, legRequest{}, err
	}
	return form, leg, nil
}

// twimlResponse renders the instruction as the TwiML answer to the agent leg's request; with call
// recording on (RECORD_CALLS) the dequeue's <Dial> records the conversation and reports the
// recording to the leg's recording callback.
func (s *server) twimlResponse(c echo.Context, ins taskrouter.Instruction, leg legRequest) error {
	var recordingCallback string
	if s.Caller != nil && s.Caller.RecordCalls {
		recordingCallback = NewURLs(s.PublicBaseURL).CallRecording(leg.reservation, leg.task)
	}
	key := renderKey{ins, recordingCallback}
	xml, ok := s.rendered.Get(key)
	if !ok {
		out, err := renderTwiML(ins, recordingCallback)
		if err != nil {
			return err
		}
		xml = []byte(out)
		s.rendered.Put(key, xml)
	}
	return c.Blob(http.StatusOK, "text/xml; charset=utf-8", xml)
}

// agentConfirm answers the confirmation Gather's action: the agent's key, or none.
func (s *server) agentConfirm(c echo.Context) error {
	form, leg, err := s.agentLeg(c)
	if err != nil {
		return err
	}
	reservation, task, callSID := leg.reservation, leg.task, leg.callSID
	attempt, err := strconv.Atoi(c.QueryParam("attempt"))
	if err != nil || attempt < 1 || attempt > 2 {
		return taskrouter.Errorf(taskrouter.EInvalid, "attempt %q: want 1 or 2", c.QueryParam("attempt"))
	}
	digits := form.Get("Digits")
	if len(digits) > 1 || strings.Trim(digits, "0123456789*#") != "" {
		return taskrouter.Errorf(taskrouter.EInvalid, "Digits %q: want at most one key", digits)
	}
	ins, err := s.Bridge.AgentConfirmed(c.Request().Context(), taskrouter.Confirmation{
		ReservationSID: reservation, TaskSID: task, CallSID: callSID, Digits: digits, Attempt: attempt,
	})
	if err != nil {
		return err
	}
	return s.twimlResponse(c, ins, leg)
}

// statusCallback receives the agent leg's status callbacks.
func (s *server) statusCallback(c echo.Context) error {
	form, err := s.verified(c)
	if err != nil {
		return err
	}
	q := c.Request().URL.Query()
	reservation, task, callSID := q.Get("reservation"), q.Get("task"), form.Get("CallSid")
	sids := map[string][2]string{
		"reservation": {reservation, taskrouter.PrefixReservation},
		"CallSid":     {callSID, taskrouter.PrefixCall},
	}
	if task != "" || q.Has("task") { // legs placed before the URL named the task have none
		sids["task"] = [2]string{task, taskrouter.PrefixTask}
	}
	if err := checkSIDs(sids); err != nil {
		return err
	}
	status, err := taskrouter.ParseCallStatus(form.Get("CallStatus"))
	if err != nil {
		return err
	}
	if err := s.Bridge.AgentCallStatus(c.Request().Context(), taskrouter.CallUpdate{
		ReservationSID: reservation, TaskSID: task, CallSID: callSID, Status: status,
	}); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func checkSIDs(fields map[string][2]string) error {
	for _, name := range []string{"reservation", "task", "CallSid"} {
		f, ok := fields[name]
		if !ok {
			continue
		}
		if f[0] == "" {
			return taskrouter.Errorf(taskrouter.EInvalid, "%s is missing", name)
		}
		if !taskrouter.ValidSID(f[0], f[1]) {
			return taskrouter.Errorf(taskrouter.EInvalid, "%s %q is not a %s… SID", name, f[0], f[1])
		}
	}
	return nil
}

func (s *server) healthz(c echo.Context) error { return c.String(http.StatusOK, "ok\n") }

// readyz answers 200 while Config.Ready succeeds (for the store: writes are durable), else 503
// with the reason on one line, for the operator reading it.
func (s *server) readyz(c echo.Context) error {
	if s.Ready != nil {
		if err := s.Ready(c.Request().Context()); err != nil {
			s.Logger.Warn("not ready", "err", err)
			reason := strings.Join(strings.Fields(err.Error()), " ")
			return c.String(http.StatusServiceUnavailable, "not ready: "+reason+"\n")
		}
	}
	return c.String(http.StatusOK, "ready\n")
}

// warnSignature logs a refused signature at WARN, at most once a minute with the count of those
// not logged: a wrong PUBLIC_BASE_URL refuses every webhook, and one line says why.
func (s *server) warnSignature(c echo.Context, why string) {
	if suppressed, ok := s.sigWarn.allow(time.Now(), time.Minute); ok {
		s.Logger.Warn("webhook signature refused: Twilio signs the URL it was given, so check that PUBLIC_BASE_URL is "+
			"exactly the URL Twilio calls (scheme, host, port), that no proxy rewrites the path or query, and that "+
			"TWILIO_AUTH_TOKEN is this account's", "path", c.Request().URL.RequestURI(), "why", why,
			"public_base_url", s.PublicBaseURL, "refused_since_last_warning", suppressed)
	}
}

// warnLimiter lets one event through per interval and counts the others.
type warnLimiter struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether to log now, and how many were held back since the last time.
func (l *warnLimiter) allow(now time.Time, every time.Duration) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < every {
		l.suppressed++
		return 0, false
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return n, true
}

// handleError maps errors to statuses in one place. Unknown errors are logged and answered with
// a generic 500: internals never reach the response.
func (s *server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg, _ := he.Message.(string)
		if msg == "" {
			msg = http.StatusText(he.Code)
		}
		_ = c.String(he.Code, msg+"\n")
		return
	}
	code := taskrouter.ErrorCode(err)
	status := map[string]int{
		taskrouter.EInvalid:      http.StatusBadRequest,
		taskrouter.EUnauthorized: http.StatusForbidden,
		taskrouter.ENotFound:     http.StatusNotFound,
		taskrouter.EConflict:     http.StatusConflict,
	}[code]
	if status == 0 {
		status = http.StatusInternalServerError
		s.Logger.Error("request failed", "method", c.Request().Method, "path", c.Path(), "err", err)
	} else if code == taskrouter.EUnauthorized && c.Request().Header.Get("X-Twilio-Signature") != "" {
		// A signature that does not match is a misconfiguration until proven otherwise; a
		// missing one is a stranger, logged below like any other refusal.
		s.warnSignature(c, taskrouter.ErrorMessage(err))
	} else {
		s.Logger.Info("request refused", "path", c.Path(), "status", status, "why", taskrouter.ErrorMessage(err))
	}
	_ = c.String(status, taskrouter.ErrorMessage(err)+"\n")
}
