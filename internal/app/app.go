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
	"net/url"
	"strings"
	"sync"
	"time"

	"queuebridge/caller"
	"queuebridge/handlers"
	"queuebridge/internal/config"
	"queuebridge/metrics"
	"queuebridge/operator"
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
	reconcile     reconcileCadence
	middleware    func(http.Handler) http.Handler
	limits        ServerLimits
	// sandbox: the bridge plays against the built-in sandbox (the operator page opens on loopback).
	sandbox bool
	// smsNow is the clock of the SMS afterwards (nil: time.Now).
	smsNow func() time.Time
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
	Config Config
	Bridge *taskrouter.Bridge
	// Store is SQLite or PostgreSQL, as DATABASE_URL says (OpenStore).
	Store   Store
	Metrics *metrics.Metrics
	// Handler serves every route.
	Handler   http.Handler
	log       *slog.Logger
	reconcile reconcileCadence
	// limits bound the HTTP server's connections (DefaultServerLimits unless WithServerLimits).
	limits ServerLimits
	// Operator is the live operator page's model (nil while the page is off): feed it what
	// the bridge does not report itself, e.g. SetMissedCalls.
	Operator *operator.Model
	// listAgents lists the workspace's workers for the operator page (nil: not at start-up).
	listAgents func(context.Context) ([]operator.Agent, error)
	// sms sends the SMS afterwards; Close drains it before the store closes.
	sms *caller.SMSSender
}

// New opens the store, checks the configuration against Twilio (the timing check, activity
// names) and wires the bridge and the HTTP handler. Close releases the store.
func New(ctx context.Context, cfg Config, opts ...Option) (*App, error) {
	b := build{twilioTimeout: twilioTimeout, reconcile: defaultReconcile}
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
	db, err := OpenStore(ctx, cfg.DatabaseURL, b.logger)
	if err != nil {
		return nil, err
	}
	m := metrics.New(db.PendingJobs)
	hooks := m.Hooks()
	page, pageRoutes := b.operatorPage(cfg)
	sms := newSMSSender(cfg, tw, db, b.logger, b.smsNow)
	onEvent := sms.TaskEvent // a caller who hung up after SMS_ABANDONED_AFTER
	if page != nil {
		hooks.Transition = page.Transition
		onEvent = func(e taskrouter.Event) { page.Observe(e); sms.TaskEvent(e) }
		hooks.Misses = page.SetMissedCalls // REST_AFTER_MISSES's count, when on
	}
	if b.wrapHooks != nil {
		hooks = b.wrapHooks(hooks)
	}
	bridge, err := taskrouter.NewBridge(db, tw, tw, o, hooks)
	if err != nil {
		_ = sms.Close(ctx)
		db.Close()
		return nil, config.OptionError(err)
	}
	h := handlers.New(handlers.Config{
		Bridge: bridge, AuthToken: cfg.Twilio.AuthToken, PublicBaseURL: cfg.PublicBaseURL,
		Ready: db.Ping, Logger: b.logger, Metrics: m.Handler(), Observe: m.Observe,
		Operator: pageRoutes, OnEvent: onEvent,
		Caller: callerConfig(cfg, tw, db, page, sms),
	})
	var handler http.Handler = h
	if b.middleware != nil {
		handler = b.middleware(h)
	}
	a := &App{Config: cfg, Bridge: bridge, Store: db, Metrics: m, Handler: handler, log: b.logger, reconcile: b.reconcile,
		limits: b.limits.withDefaults(DefaultServerLimits()), Operator: page, sms: sms}
	if page != nil && !b.skipChecks {
		a.listAgents = func(ctx context.Context) ([]operator.Agent, error) {
			workers, err := tw.Workers(ctx, cfg.WorkspaceSID)
			agents := make([]operator.Agent, 0, len(workers))
			for _, w := range workers {
				agents = append(agents, operator.Agent{SID: w.SID, Name: w.Name, Activity: w.Activity})
			}
			return agents, err
		}
	}
	return a, nil
}

// operatorPage builds the live operator page: on with OPERATOR_TOKEN, and in sandbox mode,
// where without a token it opens to loopback requests only. Otherwise it is off, and its routes
// say how to turn it on.
func (b build) operatorPage(cfg Config) (*operator.Model, *handlers.OperatorRoutes) {
	if cfg.Operator.Token == "" && !b.sandbox {
		off := operator.Off()
		return nil, &handlers.OperatorRoutes{Page: off, Events: off, Login: off, Logout: off}
	}
	model := operator.NewModel(operator.ModelOptions{ShowNumbers: cfg.Operator.ShowNumbers})
	public, _ := url.Parse(cfg.PublicBaseURL) // checked by LoadConfig
	access := operator.Access{Token: cfg.Operator.Token, OpenOnLoopback: b.sandbox && cfg.Operator.Token == ""}
	if public != nil {
		access.SecureCookie, access.PublicHost = public.Scheme == "https", public.Host
	}
	srv := operator.NewServer(model, access, b.logger)
	return model, &handlers.OperatorRoutes{Page: srv.Page(), Events: srv.Events(), Login: srv.Login(), Logout: srv.Logout(),
		Allowed: access.Allowed}
}

// checkWorkspace reads what the bridge needs of the account before it serves: the workspace
// (reachable with these credentials, its event callback pointing here), every workflow's
// reservation timeout (the agent leg must fit in it), the activities named by NOANSWER_ACTIVITY,
// POSTWORK_ACTIVITY, REST_ACTIVITY and REST_RETURN_ACTIVITY, and a fixed CALLER_ID (the account must own or have verified it).
func checkWorkspace(ctx context.Context, tw *twiliogo.API, cfg Config, o taskrouter.Options) (taskrouter.Options, error) {
	ws, err := tw.FetchWorkspace(ctx, cfg.WorkspaceSID)
	if err != nil {
		return o, startupError(cfg, err)
	}
	if err := checkEventCallback(ws, cfg); err != nil {
		return o, err
	}
	timeouts, names, err := tw.ReservationTimeouts(ctx, cfg.WorkspaceSID)
	if err != nil {
		return o, startupError(cfg, err)
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
	if o.RestActivitySID, err = resolveActivity(ctx, tw, cfg.WorkspaceSID, "REST_ACTIVITY", cfg.RestActivity); err != nil {
		return o, err
	}
	if o.ReturnActivitySID, err = resolveActivity(ctx, tw, cfg.WorkspaceSID, "REST_RETURN_ACTIVITY", cfg.ReturnActivity); err != nil {
		return o, err
	}
	return o, checkCallerID(ctx, tw, cfg, o.CallerID)
}

// checkEventCallback refuses a workspace whose events go elsewhere: the bridge would never hear
// of a reservation. Connection-override fragments (#rc=…) are not part of the comparison.
func checkEventCallback(ws twiliogo.Workspace, cfg Config) error {
	want := handlers.NewURLs(cfg.PublicBaseURL).Events()
	got := ws.EventCallbackURL
	if withoutFragment(got) == withoutFragment(want) {
		return nil
	}
	return fmt.Errorf("refusing to start: workspace %s (%s) sends its events to %q, not to this bridge's %q: "+
		"set PUBLIC_BASE_URL to the URL Twilio reaches this server at, then run `go run ./cmd/bootstrap apply` to point the workspace here",
		ws.Name, cfg.WorkspaceSID, got, withoutFragment(want))
}

func withoutFragment(u string) string {
	base, _, _ := strings.Cut(u, "#")
	return base
}

// checkCallerID refuses a fixed CALLER_ID the account neither owns nor has verified: Twilio would
// refuse every agent leg with 21210.
func checkCallerID(ctx context.Context, tw *twiliogo.API, cfg Config, callerID string) error {
	if !strings.HasPrefix(callerID, "+") {
		return nil // empty (the number dialed), "caller", or a client:/sip: identity: no number to own
	}
	owned, err := tw.OwnsNumber(ctx, callerID)
	if err != nil {
		return startupError(cfg, err)
	}
	if !owned {
		return fmt.Errorf("refusing to start: CALLER_ID %s is neither a phone number of account %s nor a verified caller ID: "+
			"Twilio would refuse every agent leg (error 21210); unset CALLER_ID to use the number each caller dialed", callerID, cfg.Twilio.AccountSID)
	}
	return nil
}

// startupError explains a failed start-up request: which variable to look at, and which Twilio
// was asked (TWILIO_API_URL, when set).
func startupError(cfg Config, err error) error {
	where := "Twilio"
	if cfg.Twilio.APIURL != "" {
		where = "Twilio at " + cfg.Twilio.APIURL + " (TWILIO_API_URL)"
	}
	var re *taskrouter.RemoteError
	if errors.As(err, &re) {
		switch re.Status {
		case http.StatusUnauthorized:
			return fmt.Errorf("start-up check: %s refused the credentials (401): check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, "+
				"or TWILIO_API_KEY and TWILIO_API_SECRET: %w", where, err)
		case http.StatusNotFound:
			return fmt.Errorf("start-up check: %s has no workspace %s (404) for account %s: check TWILIO_WORKSPACE_SID "+
				"(`go run ./cmd/bootstrap apply --env-out .env` writes it): %w", where, cfg.WorkspaceSID, cfg.Twilio.AccountSID, err)
		}
	}
	return fmt.Errorf("start-up check: asking %s: %w", where, err)
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

// Serve runs the HTTP server on ln, the dispatcher, and (while this replica leads: always on
// SQLite) the janitor and the reconciler until ctx ends, then shuts down gracefully: it stops accepting, finishes the requests in flight, then the jobs in flight.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	limited := newLimitListener(ln, a.limits.MaxConns)
	srv := a.limits.server(a.Handler, limited)
	if a.Operator != nil {
		srv.RegisterOnShutdown(a.Operator.Close) // open pages must not hold the shutdown up
	}
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
		lead(runCtx, a.Store, a.runOnce)
	}()
	if a.Operator != nil {
		a.seedVoicemails(ctx)
	}
	if a.listAgents != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.seedAgents(runCtx)
		}()
	}
	go func() {
		if err := srv.Serve(limited); err != nil && !errors.Is(err, http.ErrServerClosed) {
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

// runOnce runs the work that must run on one replica at a time, the janitor and the
// reconciler, until ctx ends (the replica stops leading, or shuts down).
func (a *App) runOnce(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.janitor(ctx)
	}()
	a.Bridge.RunReconciler(ctx, a.reconcile.every, a.reconcile.pace)
	wg.Wait()
}

// seedAgents lists the workspace's agents on the operator page before any event names them.
func (a *App) seedAgents(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, twilioTimeout)
	defer cancel()
	agents, err := a.listAgents(ctx)
	if err != nil {
		a.log.Warn("operator page: listing the workspace's workers (agents appear as events name them)", "err", err)
		return
	}
	a.Operator.SeedAgents(agents)
}

// seedVoicemails shows the last stored voicemails on the operator page, so that a restart does
// not empty its list.
func (a *App) seedVoicemails(ctx context.Context) {
	list, err := a.Store.ListVoicemails(ctx, operator.DefaultRecent)
	if err != nil {
		a.log.Warn("operator page: listing the stored voicemails (new ones still appear)", "err", err)
		return
	}
	a.Operator.SeedVoicemails(list)
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

// Close sends the SMS still queued (at most shutdownGrace) and releases the store; call it after
// Serve returned.
func (a *App) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := a.sms.Close(ctx); err != nil {
		a.log.Warn("closing", "err", err)
	}
	return a.Store.Close()
}
