package studio

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/internal/twilioapi"
)

// Config is what the engine needs from the sandbox.
type Config struct {
	Clock       clock.Clock
	Credentials twilioapi.Credentials
	Recorder    *twilioapi.Recorder
	Logger      *slog.Logger
	// BaseURL is the sandbox's own base URL (http://127.0.0.1:PORT): flows' webhook_url, the
	// continuation URLs given in TwiML and the URL signatures are checked against start with it.
	BaseURL func() string
	// HTTPClient makes the make-http-request widget's requests (Studio's 10 s limit when nil).
	HTTPClient *http.Client
}

// Engine holds the flows and their executions.
type Engine struct {
	cfg Config

	mu         sync.Mutex
	flows      map[string]*flow      // by FW sid
	flowOrder  []string              // creation order, for listing
	executions map[string]*execution // by FN sid
	byCall     map[string]string     // flow sid + call sid → FN sid
}

// New returns an engine with no flows.
func New(cfg Config) *Engine {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Recorder == nil {
		cfg.Recorder = &twilioapi.Recorder{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.BaseURL == nil {
		cfg.BaseURL = func() string { return "http://127.0.0.1" }
	}
	return &Engine{
		cfg:        cfg,
		flows:      map[string]*flow{},
		executions: map[string]*execution{},
		byCall:     map[string]string{},
	}
}

func (e *Engine) now() time.Time { return e.cfg.Clock.Now().UTC() }

// baseURL is Config.BaseURL without a trailing slash, so joined paths match what callers sign.
func (e *Engine) baseURL() string { return strings.TrimRight(e.cfg.BaseURL(), "/") }
