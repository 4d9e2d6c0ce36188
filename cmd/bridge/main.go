// Command bridge runs queuebridge: the HTTP server Twilio calls (TaskRouter events, the agent
// leg's TwiML and status callbacks) and the dispatcher that places and ends agent legs.
//
// With TWILIO_ACCOUNT_SID set it works against that Twilio account; without, against the sandbox.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"queuebridge/handlers"
	"queuebridge/store"
	"queuebridge/taskrouter"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "queuebridge:", err)
		os.Exit(1)
	}
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// run is the whole program; tests call it too.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("bridge", flag.ContinueOnError)
	flags.SetOutput(stderr)
	envFile := flags.String("env-file", ".env", "read variables from this file when present (the environment wins)")
	port := flags.String("port", "", "listen port (PORT)")
	demo := flags.Bool("demo", true, "sandbox mode: place the demo calls before serving")
	speed := flags.Float64("speed", 10, "sandbox mode: how many times faster than real time the sandbox's clock runs")
	if err := flags.Parse(args); err != nil {
		return err
	}
	get, err := newLookup(getenv, *envFile)
	if err != nil {
		return err
	}
	if *port != "" {
		inner := get
		get = func(k string) string {
			if k == "PORT" {
				return *port
			}
			return inner(k)
		}
	}
	cfg, err := loadConfig(get)
	if err != nil {
		return err
	}
	if cfg.sandbox() {
		if *speed < 1 || *speed > 1000 {
			return fmt.Errorf("-speed %v: want 1 (real time) to 1000", *speed)
		}
		if get("LOG_LEVEL") == "" {
			cfg.LogLevel = slog.LevelWarn // the demo's timelines are the output; the bridge's log stays quiet
		}
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
		return runSandboxMode(ctx, cfg, *demo, *speed, stdout, log)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.Port))
	if err != nil {
		return fmt.Errorf("PORT %d: %w", cfg.Port, err)
	}
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer a.close()
	fmt.Fprintf(stdout, "queuebridge listening on %s (public URL %s)\n", ln.Addr(), cfg.PublicBaseURL)
	return a.serve(ctx, ln)
}

// app is a wired queuebridge: store, Twilio client, bridge and HTTP server.
type app struct {
	cfg    config
	log    *slog.Logger
	db     *store.DB
	bridge *taskrouter.Bridge
	http   *http.Server
}

// newApp opens the store, checks the configuration against Twilio (the timing check, activity
// names) and wires the bridge and the HTTP server.
func newApp(ctx context.Context, cfg config, log *slog.Logger) (*app, error) {
	client, err := taskrouter.NewRestClient(taskrouter.Credentials{
		AccountSID: cfg.AccountSID, AuthToken: cfg.AuthToken, APIKey: cfg.APIKey, APISecret: cfg.APISecret,
	}, cfg.APIURL, 10*time.Second)
	if err != nil {
		return nil, err
	}
	tw := &taskrouter.TwilioAPI{Client: client}
	opts := cfg.options()
	opts.Logger = log

	timeouts, names, err := tw.ReservationTimeouts(ctx, cfg.WorkspaceSID)
	if err != nil {
		return nil, fmt.Errorf("start-up check: %w", err)
	}
	for sid, timeout := range timeouts {
		if err := opts.CheckTiming(fmt.Sprintf("%s (%s)", names[sid], sid), timeout); err != nil {
			return nil, fmt.Errorf("refusing to start: %w", err)
		}
	}
	opts.ReservationTimeouts = timeouts
	if opts.NoAnswerActivitySID, err = resolveActivity(ctx, tw, cfg.WorkspaceSID, "NOANSWER_ACTIVITY", cfg.NoAnswerActivity); err != nil {
		return nil, err
	}
	if opts.PostWorkActivitySID, err = resolveActivity(ctx, tw, cfg.WorkspaceSID, "POSTWORK_ACTIVITY", cfg.PostWorkActivity); err != nil {
		return nil, err
	}

	path, err := store.Path(cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, path, nil)
	if err != nil {
		return nil, err
	}
	metrics := handlers.NewMetrics(db.PendingJobs)
	bridge, err := taskrouter.NewBridge(db, tw, tw, opts, metrics.Hooks())
	if err != nil {
		db.Close()
		return nil, err
	}
	srv := handlers.New(handlers.Config{
		Bridge: bridge, AuthToken: cfg.AuthToken, PublicBaseURL: cfg.PublicBaseURL,
		Ready: db.Ping, Logger: log, Metrics: metrics.Handler(), Observe: metrics.Observe,
	})
	return &app{cfg: cfg, log: log, db: db, bridge: bridge,
		http: &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}}, nil
}

func resolveActivity(ctx context.Context, tw *taskrouter.TwilioAPI, workspace, variable, name string) (string, error) {
	if name == "" || taskrouter.ValidSID(name, taskrouter.PrefixActivity) {
		return name, nil
	}
	sid, err := tw.ActivitySID(ctx, workspace, name)
	if err != nil {
		return "", fmt.Errorf("%s: %w", variable, err)
	}
	return sid, nil
}

// serve runs the HTTP server and the dispatcher until ctx ends, then shuts down gracefully: it
// stops accepting, finishes the requests in flight, then the jobs in flight.
func (a *app) serve(ctx context.Context, ln net.Listener) error {
	runCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopJobs()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := a.bridge.Run(runCtx); err != nil {
			errc <- fmt.Errorf("dispatcher: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		a.janitor(runCtx)
	}()
	go func() {
		if err := a.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http: %w", err)
		}
	}()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	a.log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if serr := a.http.Shutdown(shutCtx); serr != nil {
		err = errors.Join(err, fmt.Errorf("http shutdown: %w", serr))
	}
	stopJobs()
	wg.Wait()
	return err
}

// janitor forgets processed event SIDs after a day: TaskRouter retries within seconds.
func (a *app) janitor(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := a.db.PruneEvents(ctx, time.Now().Add(-24*time.Hour)); err != nil {
				a.log.Warn("pruning events", "err", err)
			} else if n > 0 {
				a.log.Debug("pruned events", "count", n)
			}
		}
	}
}

func (a *app) close() {
	if err := a.db.Close(); err != nil && !strings.Contains(err.Error(), "closed") {
		a.log.Warn("closing store", "err", err)
	}
}
