package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"queuebridge/internal/app"
	"queuebridge/internal/config"
	"queuebridge/taskrouter"
	"queuebridge/twiliogo"
)

// bridgeProcess is a queuebridge running in this process, wired by the same function as
// cmd/bridge (store, twilio-go client with TWILIO_API_URL pointing at the fake, bridge,
// dispatcher, HTTP server with metrics), less the start-up checks against Twilio.
type bridgeProcess struct {
	url    string
	app    *app.App
	db     app.Store
	cancel context.CancelFunc
	served chan error
	tmp    string

	// What the bridge itself reports going wrong with its Twilio: with the fake answering
	// everything, both stay 0.
	twilioErrors atomic.Int64
	jobRetries   atomic.Int64
}

// startBridges starts o.replicas bridges in process on one database (PostgreSQL when more than
// one), each with its own store, dispatcher and listener, all with the first one's URL as their
// PUBLIC_BASE_URL: requests are signed for it and may be sent to any of them, as behind a load
// balancer.
func startBridges(ctx context.Context, o options, twilioURL string, stderr io.Writer) ([]*bridgeProcess, error) {
	var bridges []*bridgeProcess
	public := ""
	for range o.replicas {
		b, err := startBridge(ctx, o, twilioURL, public, stderr)
		if err != nil {
			for _, b := range bridges {
				b.stop()
			}
			return nil, err
		}
		bridges = append(bridges, b)
		public = bridges[0].url
	}
	return bridges, nil
}

// startBridge starts one bridge in process; publicURL is its PUBLIC_BASE_URL ("": its own URL).
func startBridge(ctx context.Context, o options, twilioURL, publicURL string, stderr io.Writer) (*bridgeProcess, error) {
	b := &bridgeProcess{}
	path := o.dbPath
	if path == "" {
		dir, err := os.MkdirTemp("", "loadgen-")
		if err != nil {
			return nil, err
		}
		b.tmp = dir
		path = filepath.Join(dir, "queuebridge.db")
	}
	// Off still formats every line at info, as a deployment would, and throws it away.
	var out io.Writer = io.Discard
	level := slog.LevelInfo
	if o.logLevel != "off" {
		out = stderr
		_ = level.UnmarshalText([]byte(o.logLevel))
	}
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.removeTemp()
		return nil, err
	}
	b.url = "http://" + ln.Addr().String()
	cfg := app.Config{
		Twilio:        config.Twilio{Credentials: twiliogo.Credentials{AccountSID: accountSID, AuthToken: o.token}, APIURL: twilioURL},
		WorkspaceSID:  workspaceSID,
		PublicBaseURL: cmp.Or(publicURL, b.url), DatabaseURL: path,
		Options: taskrouter.Options{Workers: o.workers},
	}
	if o.sse+o.sseStalled > 0 {
		cfg.Operator.Token = o.opToken
	}
	a, err := app.New(ctx, cfg, app.WithLogger(logger), app.WithoutStartupChecks(), app.WithHooks(b.countFailures))
	if err != nil {
		ln.Close()
		b.removeTemp()
		return nil, err
	}
	b.app, b.db = a, a.Store
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.cancel, b.served = cancel, make(chan error, 1)
	go func() { b.served <- a.Serve(runCtx, ln) }()
	return b, nil
}

// countFailures counts the Twilio errors and job retries the bridge reports.
func (b *bridgeProcess) countFailures(h taskrouter.Hooks) taskrouter.Hooks {
	request, retried := h.TwilioRequest, h.JobRetried
	h.TwilioRequest = func(op string, took time.Duration, err error, failed taskrouter.FailureKind) {
		if err != nil {
			b.twilioErrors.Add(1)
		}
		request(op, took, err, failed)
	}
	h.JobRetried = func(kind taskrouter.JobKind) {
		b.jobRetries.Add(1)
		retried(kind)
	}
	return h
}

// stop shuts the server down, then the dispatcher, then the store.
func (b *bridgeProcess) stop() {
	b.cancel()
	if err := <-b.served; err != nil {
		fmt.Fprintln(os.Stderr, "loadgen: bridge:", err)
	}
	b.app.Close()
	b.removeTemp()
}

func (b *bridgeProcess) removeTemp() {
	if b.tmp != "" {
		os.RemoveAll(b.tmp)
	}
}

// preload stores n finished (completed) reservations, each with its reservation.created event
// processed, so that a run measures the bridge with that history behind it.
func (b *bridgeProcess) preload(ctx context.Context, n int) error {
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	next := make(chan int)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				r := newSIDs()
				now := time.Now()
				_, _, err := b.db.UpdateReservation(ctx, r.reservation, r.task, r.event(), func(taskrouter.Snapshot) (taskrouter.Change, error) {
					return taskrouter.Change{Reservation: &taskrouter.Reservation{SID: r.reservation, TaskSID: r.task,
						WorkspaceSID: workspaceSID, WorkflowSID: workflowSID, WorkerSID: r.worker, WorkerName: "agent",
						ContactURI: agentNumber, CallerID: callerNumber, State: taskrouter.StateCompleted,
						CallSID: r.newCall(), CallStatus: taskrouter.CallCompleted, AnsweredBy: taskrouter.AnsweredHuman,
						Outcome: taskrouter.Outcome{Kind: taskrouter.OutcomeBridged}, CreatedAt: now, UpdatedAt: now, DialingAt: now, Deadline: now.Add(2 * time.Minute)}}, nil
				})
				if err != nil {
					select {
					case errc <- err:
					default:
					}
					return
				}
			}
		}()
	}
	var err error
send:
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case err = <-errc:
			break send
		case <-ctx.Done():
			err = ctx.Err()
			break send
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	if err != nil {
		return fmt.Errorf("storing a reservation: %w", err)
	}
	return nil
}

// waitHealthy waits (at most a minute) for the bridge at base to answer /healthz.
func waitHealthy(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the bridge at %s did not answer /healthz within a minute (start it with TWILIO_API_URL set to the fake Twilio)", base)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
