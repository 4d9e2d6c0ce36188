// Package sandbox is queuebridge's behavioural stand-in for Twilio: TaskRouter, Voice (with
// answering machine detection and scripted personas) and Studio, wired together behind one
// HTTP server on loopback that the unmodified twilio-go client reaches through TWILIO_API_URL.
// It plays Twilio's published behaviour only and imports nothing of the bridge.
//
// The engines live in sandbox/taskrouter, sandbox/voice, sandbox/studio and sandbox/messaging; this package builds
// them on one clock, one timeline recorder and one set of credentials, connects TaskRouter and
// Voice to each other (Enqueue creates tasks, <Dial><Queue> dequeues reservations, canceled
// tasks release their callers), points Studio's webhook URLs at the server, and adds a control
// surface under /sandbox/ for tests and demos: placing inbound calls, scripting the far end of
// numbers, and reading timelines. docs/SANDBOX.md describes what is modelled and what is not.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/internal/twilioapi"
	"queuebridge/sandbox/messaging"
	"queuebridge/sandbox/studio"
	"queuebridge/sandbox/taskrouter"
	"queuebridge/sandbox/voice"
)

// The sandbox's fixed credentials, used when Config leaves them empty. They have the shape of
// real ones (twilio-go refuses anything but letters and digits) and are documented so a person
// can point curl or the bootstrap at a sandbox without reading its output.
const (
	DefaultAccountSID = "AC5a5db0c55a5db0c55a5db0c55a5db0c5"
	DefaultAuthToken  = "feedfacefeedfacefeedfacefeedface"
)

// DefaultNumber is the phone number every sandbox starts with: Twilio's test number, the one
// the example bootstrap spec points at the IVR flow.
const (
	DefaultNumber             = "+15005550006"
	DefaultNumberFriendlyName = "queuebridge demo"
)

// Config is how a sandbox is built. The zero value is usable.
type Config struct {
	Clock  clock.Clock  // nil: clock.Real{}
	Logger *slog.Logger // nil: discard
	Addr   string       // listen address; "" = "127.0.0.1:0"
	// AccountSID and AuthToken are the account the sandbox plays; empty: DefaultAccountSID and
	// DefaultAuthToken. The token signs every webhook the sandbox sends.
	AccountSID, AuthToken string
}

// Entry is one line of a timeline (a call's status, an AMD verdict, a TaskRouter event …),
// aliased so code outside sandbox/ can hold timelines without reaching into internal packages.
type Entry = twilioapi.Entry

// Sandbox is a running (or ready to run) stand-in for Twilio.
type Sandbox struct {
	clock clock.Clock
	log   *slog.Logger
	addr  string
	creds twilioapi.Credentials
	rec   *twilioapi.Recorder
	hooks *twilioapi.Webhooks

	tr     *taskrouter.Engine
	voice  *voice.Engine
	studio *studio.Engine
	msg    *messaging.Engine

	handler http.Handler

	mu     sync.Mutex
	srv    *http.Server
	url    string
	served chan struct{} // closed when Serve returns
	closed bool
}

// New builds the engines and wires them together. Nothing listens until Start.
func New(cfg Config) (*Sandbox, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.AccountSID == "" {
		cfg.AccountSID = DefaultAccountSID
	}
	if cfg.AuthToken == "" {
		cfg.AuthToken = DefaultAuthToken
	}
	if !twilioapi.HasSIDShape(cfg.AccountSID, "AC") {
		return nil, fmt.Errorf("sandbox: account SID %q: want AC followed by 32 hex digits", cfg.AccountSID)
	}
	if !alphanumeric(cfg.AuthToken) {
		// twilio-go refuses such credentials locally (21224): say so now rather than on every request.
		return nil, fmt.Errorf("sandbox: auth token must be letters and digits only")
	}

	s := &Sandbox{
		clock: cfg.Clock,
		log:   cfg.Logger,
		addr:  cfg.Addr,
		creds: twilioapi.Credentials{AccountSid: cfg.AccountSID, AuthToken: cfg.AuthToken},
		rec:   &twilioapi.Recorder{},
	}
	// Webhooks go to applications on loopback or wherever their URLs say, with Twilio's
	// connection defaults (connect 5 s, read 15 s, 15 s in all, one retry on a connection
	// failure) and each URL's #ct=…&rc=…&rp=… overrides, in real time whatever the clock.
	hooks := &twilioapi.Webhooks{AuthToken: cfg.AuthToken, Recorder: s.rec, Now: s.clock.Now}
	s.hooks = hooks

	s.tr = taskrouter.New(taskrouter.Config{
		Clock: s.clock, Credentials: s.creds, Webhooks: hooks, Recorder: s.rec,
		Logger: s.log.With("engine", "taskrouter"),
	})
	s.voice = voice.New(voice.Config{
		Clock: s.clock, Credentials: s.creds, Webhooks: hooks, Recorder: s.rec,
		Logger: s.log.With("engine", "voice"), TaskRouter: s.tr,
	})
	s.tr.SetQueueListener(s.voice)
	s.studio = studio.New(studio.Config{
		Clock: s.clock, Credentials: s.creds, Recorder: s.rec,
		Logger: s.log.With("engine", "studio"), BaseURL: s.URL,
	})
	s.msg = messaging.New(messaging.Config{
		Clock: s.clock, Credentials: s.creds, Webhooks: hooks, Recorder: s.rec,
		Logger: s.log.With("engine", "messaging"), OwnsNumber: s.voice.OwnsNumber,
	})
	s.voice.SeedNumber(DefaultNumber, DefaultNumberFriendlyName)
	s.handler = s.routes()
	return s, nil
}

func alphanumeric(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Start listens on Config.Addr and serves in the background until Close.
func (s *Sandbox) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("sandbox: start after close")
	}
	if s.srv != nil {
		return errors.New("sandbox: already started")
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("sandbox: listen on %s: %w", s.addr, err)
	}
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	s.url = "http://" + ln.Addr().String()
	s.served = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("sandbox server stopped", "err", err)
		}
	}(s.srv, s.served)
	s.log.Info("sandbox listening", "url", s.url)
	return nil
}

// URL is the sandbox's base URL (http://127.0.0.1:PORT), what TWILIO_API_URL is set to. It is
// empty before Start.
func (s *Sandbox) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// Credentials are the account SID and auth token the sandbox accepts and signs webhooks with.
func (s *Sandbox) Credentials() (accountSID, authToken string) {
	return s.creds.AccountSid, s.creds.AuthToken
}

// Close hangs up every call still going, stops the engines and then the server. It waits at
// most a few seconds for calls to finish their webhooks.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	srv, served := s.srv, s.served
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	if err := s.voice.HangUpAll(ctx); err != nil {
		errs = append(errs, fmt.Errorf("sandbox: hang up calls: %w", err))
	}
	s.tr.Close()
	s.msg.Close()
	s.hooks.CloseIdleConnections()
	if srv != nil {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("sandbox: stop server: %w", err))
			_ = srv.Close()
		}
		<-served
	}
	return errors.Join(errs...)
}

// SeedNumber adds one of the sandbox's own phone numbers (an IncomingPhoneNumber that callers
// can dial and the bootstrap can point at a flow) and returns its SID (PN…).
func (s *Sandbox) SeedNumber(e164, friendlyName string) string {
	return s.voice.SeedNumber(e164, friendlyName)
}

// SetPersona scripts who answers number (an agent's phone) or who calls from it (a caller).
func (s *Sandbox) SetPersona(number string, p voice.Persona) { s.voice.SetPersona(number, p) }

// PlaceCall makes the persona of from call to, one of the sandbox's numbers, and returns the
// inbound call's SID at once; the call goes on in the background.
func (s *Sandbox) PlaceCall(ctx context.Context, from, to string) (callSid string, err error) {
	if !e164(from) {
		return "", fmt.Errorf("sandbox: place call: from %q is not an E.164 number", from)
	}
	sid, err := s.voice.PlaceInboundCall(ctx, from, to)
	if err != nil {
		return "", fmt.Errorf("sandbox: %w", err)
	}
	return sid, nil
}

// Timeline returns the entries concerning sid, oldest first: for a call, its own entries and
// those of its task, the task's reservations and the TaskRouter events about them, and of the
// calls it was bridged with or dialed; for a task or a reservation, its entries and events.
// An empty sid returns every entry.
func (s *Sandbox) Timeline(sid string) []Entry {
	if sid == "" {
		return s.rec.Entries("")
	}
	related := s.related(sid)
	all := s.rec.Entries("")
	out := make([]Entry, 0, 32)
	for _, e := range all {
		if concerns(e, related) {
			out = append(out, e)
		}
	}
	return out
}

// Subscribe delivers every later timeline entry to ch. A subscriber that does not keep up
// misses entries rather than slowing the sandbox down: give ch a generous buffer.
func (s *Sandbox) Subscribe(ch chan<- Entry) { s.rec.Subscribe(ch) }

// TaskRouter is the TaskRouter engine, for tests: delivery faults and introspection.
func (s *Sandbox) TaskRouter() *taskrouter.Engine { return s.tr }

// Voice is the Voice engine, for tests: personas, calls, Settle.
func (s *Sandbox) Voice() *voice.Engine { return s.voice }

// Messaging is the Messages engine: numbers' line types and opt-outs, landline handling, the
// messages sent.
func (s *Sandbox) Messaging() *messaging.Engine { return s.msg }

// Studio is the Studio engine, for tests: flows' executions.
func (s *Sandbox) Studio() *studio.Engine { return s.studio }

// Clock is the clock every engine runs on.
func (s *Sandbox) Clock() clock.Clock { return s.clock }

func e164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for _, r := range s[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
