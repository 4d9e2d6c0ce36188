// Package app wires queuebridge together: configuration → store → Twilio client → bridge →
// metrics → HTTP server, and, with no account, the sandbox. It is the one place that does, for
// cmd/bridge, the load generator, the demo and the tests alike.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"queuebridge/handlers"
	"queuebridge/internal/config"
	"queuebridge/metrics"
	"queuebridge/store"
	"queuebridge/taskrouter"
	"queuebridge/twiliogo"
)

// Tuning of the wiring.
const (
	// twilioTimeout bounds each REST request to Twilio.
	twilioTimeout = 10 * time.Second
	// eventMemory is how long processed event SIDs are kept: TaskRouter retries within seconds.
	eventMemory = 24 * time.Hour
	// shutdownGrace bounds the wait for requests in flight at shutdown.
	shutdownGrace = 10 * time.Second
)

// Option adjusts what New builds.
type Option func(*build)

type build struct {
	skipChecks    bool
	twilioTimeout time.Duration
	wrapHooks     func(taskrouter.Hooks) taskrouter.Hooks
	logger        *slog.Logger
}

// WithoutStartupChecks skips reading the workspace at start (the timing check, activity names):
// for a Twilio stand-in that answers only the calls a flow makes (the load generator's).
func WithoutStartupChecks() Option { return func(b *build) { b.skipChecks = true } }

// WithTwilioTimeout bounds each REST request to Twilio (default 10 s).
func WithTwilioTimeout(d time.Duration) Option { return func(b *build) { b.twilioTimeout = d } }

// WithHooks lets the caller observe the bridge beside the metrics.
func WithHooks(wrap func(taskrouter.Hooks) taskrouter.Hooks) Option {
	return func(b *build) { b.wrapHooks = wrap }
}

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(b *build) { b.logger = l } }

// App is a wired queuebridge.
type App struct {
	Config  Config
	Bridge  *taskrouter.Bridge
	Store   *store.DB
	Metrics *metrics.Metrics
	// Handler serves every route.
	Handler http.Handler
	log     *slog.Logger
}

// New opens the store, checks the configuration against Twilio (the timing check, activity
// names) and wires the bridge and the HTTP handler. Close releases the store.
func New(ctx context.Context, cfg Config, opts ...Option) (*App, error) {
	b := build{twilioTimeout: twilioTimeout}
	for _, o := range opts {
		o(&b)
	}
	if b.logger == nil {
		b.logger = slog.Default()
	}
	client, err := cfg.Twilio.RestClient(b.twilioTimeout)
	if err != nil {
		return nil, err
	}
	tw := &twiliogo.API{Client: client}
	o := cfg.Options
	o.URLs, o.Logger = handlers.NewURLs(cfg.PublicBaseURL), b.logger
	if !b.skipChecks {
		if o, err = checkWorkspace(ctx, tw, cfg, o); err != nil {
			return nil, err
		}
	}
	path, err := store.Path(cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, path, nil)
	if err != nil {
		return nil, err
	}
	m := metrics.New(db.PendingJobs)
	hooks := m.Hooks()
	if b.wrapHooks != nil {
		hooks = b.wrapHooks(hooks)
	}
	bridge, err := taskrouter.NewBridge(db, tw, tw, o, hooks)
	if err != nil {
		db.Close()
		return nil, config.OptionError(err)
	}
	h := handlers.New(handlers.Config{
		Bridge: bridge, AuthToken: cfg.Twilio.AuthToken, PublicBaseURL: cfg.PublicBaseURL,
		Ready: db.Ping, Logger: b.logger, Metrics: m.Handler(), Observe: m.Observe,
	})
	return &App{Config: cfg, Bridge: bridge, Store: db, Metrics: m, Handler: h, log: b.logger}, nil
}

// checkWorkspace reads what the bridge needs of the workspace: every workflow's reservation
// timeout (the agent leg must fit in it, or the bridge refuses to start) and the activities
// named by NOANSWER_ACTIVITY and POSTWORK_ACTIVITY.
func checkWorkspace(ctx context.Context, tw *twiliogo.API, cfg Config, o taskrouter.Options) (taskrouter.Options, error) {
	timeouts, names, err := tw.ReservationTimeouts(ctx, cfg.WorkspaceSID)
	if err != nil {
		return o, fmt.Errorf("start-up check: %w", err)
	}
	for sid, timeout := range timeouts {
		if err := o.CheckTiming(fmt.Sprintf("%s (%s)", names[sid], sid), timeout); err != nil {
			return o, fmt.Errorf("refusing to start: %w (RING_TIMEOUT, AMD_TIMEOUT)", err)
		}
	}
	o.ReservationTimeouts = timeouts
	if o.NoAnswerActivitySID, err = resolveActivity(ctx, tw, cfg.WorkspaceSID, "NOANSWER_ACTIVITY", cfg.NoAnswerActivity); err != nil {
		return o, err
	}
	if o.PostWorkActivitySID, err = resolveActivity(ctx, tw, cfg.WorkspaceSID, "POSTWORK_ACTIVITY", cfg.PostWorkActivity); err != nil {
		return o, err
	}
	return o, nil
}

func resolveActivity(ctx context.Context, tw *twiliogo.API, workspace, variable, name string) (string, error) {
	if name == "" || taskrouter.ValidSID(name, taskrouter.PrefixActivity) {
		return name, nil
	}
	sid, err := tw.ActivitySID(ctx, workspace, name)
	if err != nil {
		return "", fmt.Errorf("%s: %w", variable, err)
	}
	return sid, nil
}

// Serve runs the HTTP server on ln, the dispatcher and the janitor until ctx ends, then shuts
// down gracefully: it stops accepting, finishes the requests in flight, then the jobs in flight.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 10 * time.Second}
	runCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopJobs()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := a.Bridge.Run(runCtx); err != nil {
			errc <- fmt.Errorf("dispatcher: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		a.janitor(runCtx)
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	}()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	a.log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if serr := srv.Shutdown(shutCtx); serr != nil {
		err = errors.Join(err, fmt.Errorf("http shutdown: %w", serr))
	}
	stopJobs()
	wg.Wait()
	return err
}

// janitor forgets processed event SIDs after eventMemory.
func (a *App) janitor(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := a.Store.PruneEvents(ctx, time.Now().Add(-eventMemory)); err != nil {
				a.log.Warn("pruning events", "err", err)
			} else if n > 0 {
				a.log.Debug("pruned events", "count", n)
			}
		}
	}
}

// Close releases the store; call it after Serve returned.
func (a *App) Close() error { return a.Store.Close() }
