package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/app"
	"queuebridge/internal/testkit"
	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/voice"
	"queuebridge/scripts/demo"
	"queuebridge/taskrouter"
)

// The issue-10 behaviours of a real account, each asserted over the sandbox (which models them
// after Twilio's documentation, docs/SANDBOX.md), through the bridge as deployed: items 1 (caller
// ID), 2 (ending an answered leg), 3 (5xx retried thanks to the connection overrides) and 5
// (start-up checks). Item 4 and the faulty 200-caller run are in drop_test.go.

// newSandboxE2E is newE2EAt whose bridge lives on the sandbox's clock (Options.Now), so that the
// reconciler's "overdue" is measured in the sandbox's accelerated time, with app options.
func newSandboxE2E(t *testing.T, speed float64, spec string, vars map[string]string, opts ...app.Option) *e2e {
	t.Helper()
	e := &e2e{t: t, dbPath: filepath.Join(t.TempDir(), "qb.db")}
	all := map[string]string{"DATABASE_URL": e.dbPath, "PORT": "0"}
	for k, v := range vars {
		all[k] = v
	}
	cfg, err := app.LoadConfig(func(k string) string { return all[k] })
	require.NoError(t, err)
	clk := clock.NewScaled(speed)
	cfg.Options.Now = clk.Now
	// Leases are on that clock and extended in real time: a lease as long in real time as the default.
	cfg.Options.JobLease = time.Duration(speed * float64(taskrouter.DefaultJobLease))
	e.cfg = cfg
	env, err := app.StartSandbox(context.Background(), app.SandboxSetup{
		Config: cfg, Spec: []byte(spec), Clock: clk, Options: opts,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Listen: "127.0.0.1:0",
	})
	require.NoError(t, err)
	e.env = env
	t.Cleanup(func() { _ = e.env.Close() })
	return e
}

// metric sums a counter of the bridge's /metrics over its labels whose text contains every
// one of match (e.g. `repair="leg_no-answer"`).
func (e *e2e) metric(name string, match ...string) float64 {
	e.t.Helper()
	resp, err := http.Get(e.env.BridgeURL + "/metrics")
	require.NoError(e.t, err)
	defer resp.Body.Close()
	require.Equal(e.t, http.StatusOK, resp.StatusCode)
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		series, value, ok := strings.Cut(line, " ")
		if !ok || (series != name && !strings.HasPrefix(series, name+"{")) {
			continue
		}
		matched := true
		for _, m := range match {
			matched = matched && strings.Contains(series, m)
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil && matched {
			sum += v
		}
	}
	require.NoError(e.t, sc.Err())
	return sum
}

// metricLines returns the lines of /metrics of the series name, for a log.
func (e *e2e) metricLines(name string) string {
	e.t.Helper()
	resp, err := http.Get(e.env.BridgeURL + "/metrics")
	require.NoError(e.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, name) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// failOnce answers 503 to the first request to path whose form matches, as a bridge that could
// not commit would, and records every matching request's form: the re-deliveries show there.
type failOnce struct {
	path  string
	match func(url.Values) bool

	mu     sync.Mutex
	failed bool
	seen   []url.Values
}

func (f *failOnce) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != f.path || r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		if !f.match(form) {
			next.ServeHTTP(w, r)
			return
		}
		f.mu.Lock()
		f.seen = append(f.seen, form)
		fail := !f.failed
		f.failed = true
		f.mu.Unlock()
		if fail {
			http.Error(w, "store unavailable (test)", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (f *failOnce) deliveries() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.seen...)
}

// shortWorkflow is the e2e spec whose task leaves the queue for voicemail after 90 s.
var shortWorkflow = strings.Replace(e2eSpec, "timeout: 300", "timeout: 90", 1)

// Item 1: the agent leg's From is a number the account owns (the one the caller dialed) unless
// CALLER_ID says otherwise; the sandbox refuses any other From with 21210, as Twilio does.
func TestRealAccountCallerID(t *testing.T) {
	t.Parallel()
	t.Run("default: the number the caller dialed", func(t *testing.T) {
		t.Parallel()
		e := newE2E(t, nil)
		e.setAgents(map[string]voice.Persona{"Alice": human()})
		caller := e.ended(e.call(voice.Human(0, 0)))
		leg := e.bridgedTo(caller, "Alice")
		assert.Equal(t, demo.Number, leg.From, "the account owns the number the caller dialed")
		assert.Zero(t, e.metric("queuebridge_caller_id_refused_total"))
	})
	t.Run("CALLER_ID=caller, unverified: every leg refused, counted, resolved; the caller leaves voicemail", func(t *testing.T) {
		t.Parallel()
		e := newE2EWithSpec(t, shortWorkflow, map[string]string{"CALLER_ID": "caller"})
		e.env.Sandbox.TaskRouter().SetReofferRejected(false) // one reservation per agent: countable
		e.setAgents(map[string]voice.Persona{"Alice": human(), "Bob": human(), "Carol": human()})
		caller := e.ended(e.call(voice.Human(0, 0).WithMessage(5 * time.Second)))

		assert.Empty(t, caller.BridgedWith)
		assert.Equal(t, "leave", caller.QueueResult, "the workflow timeout sends the caller to voicemail")
		for name := range agents {
			assert.Empty(t, e.legs(name), "Twilio created no call from an unverified number (%s)", name)
		}
		e.assertReservations(caller.TaskSid, "Alice rejected", "Bob rejected", "Carol rejected")
		assert.Equal(t, 3.0, e.metric("queuebridge_caller_id_refused_total"), "each refused leg is counted")
	})
	t.Run("CALLER_ID=caller, verified: the agent sees the caller's number", func(t *testing.T) {
		t.Parallel()
		e := newE2E(t, map[string]string{"CALLER_ID": "caller"})
		e.setAgents(map[string]voice.Persona{"Alice": human()})
		from := "+15550209999"
		e.env.Sandbox.Voice().VerifyCallerID(from)
		e.env.Sandbox.SetPersona(from, voice.Human(0, 0))
		sid, err := e.env.Sandbox.PlaceCall(context.Background(), from, demo.Number)
		require.NoError(t, err)
		leg := e.bridgedTo(e.ended(sid), "Alice")
		assert.Equal(t, from, leg.From)
		assert.Zero(t, e.metric("queuebridge_caller_id_refused_total"))
	})
}

// Item 2: the caller gives up while Alice's voicemail greeting plays (the leg is in progress,
// AMD still listening) and the "answered" status callback never reached the bridge, so the
// bridge believes the leg still rings and cancels it. Twilio (and the sandbox, by default)
// answers a cancel of an in-progress call 200 and leaves it up: the bridge must read the status
// answered and hang up. Before the fix, the leg stayed up until the greeting ended.
func TestRealAccountAnAgentWhoAnsweredDuringTheCancelIsHungUp(t *testing.T) {
	t.Parallel()
	e := newE2E(t, map[string]string{"AMD_MODE": "DetectMessageEnd"})
	e.env.Sandbox.Voice().SetWebhookFaults(voice.WebhookFaults{Drop: 1, Kinds: []string{voice.HookStatus}})
	const greeting = 40 * time.Second
	e.setAgents(map[string]voice.Persona{"Alice": voice.Voicemail(2*time.Second, greeting, true)})
	caller := e.ended(e.call(voice.Human(0, 0).WithPatience(10 * time.Second)))
	assert.Empty(t, caller.BridgedWith)

	e.eventually(func() bool { l := e.legs("Alice"); return len(l) == 1 && l[0].Status == "completed" }, "Alice's answered leg is hung up")
	leg, _ := e.env.Sandbox.Voice().Call(e.legs("Alice")[0].Sid)
	assert.Empty(t, leg.AnsweredBy, "hung up while AMD still listened to the greeting")
	assert.Less(t, leg.Duration, greeting/2, "ended by the bridge, not by the greeting running out")
	assert.Empty(t, leg.BridgedWith)
	dropped := 0
	for _, entry := range leg.Timeline {
		if strings.Contains(entry.What, "webhook dropped (fault): "+voice.HookStatus) {
			dropped++
		}
	}
	assert.NotZero(t, dropped, "the bridge never heard the leg was answered: the race happened")
	e.assertReservations(caller.TaskSid, "Alice canceled")
}

// Item 3: every URL the bridge gives Twilio carries connection overrides (rp=…,5xx), so a 5xx
// the bridge answers is retried; Twilio's default retries only a failed connection. (TaskRouter
// events are not tested this way: the sandbox's event sender re-delivers a failed event by
// itself, overrides or not; docs/SANDBOX.md.)
func TestRealAccountA5xxIsRetriedBecauseOfTheOverrides(t *testing.T) {
	t.Parallel()
	t.Run("the AMD answer (Url)", func(t *testing.T) {
		t.Parallel()
		f := &failOnce{path: "/dial-queue", match: func(v url.Values) bool { return v.Get("AnsweredBy") != "" && v.Get("DialCallStatus") == "" }}
		e := newSandboxE2E(t, e2eSpeed, e2eSpec, nil, app.WithMiddleware(f.wrap))
		e.setAgents(map[string]voice.Persona{"Alice": human(), "Bob": human()})
		caller := e.ended(e.call(voice.Human(0, 0)))

		e.bridgedTo(caller, "Alice")
		got := f.deliveries()
		require.Len(t, got, 2, "answered 503, then re-delivered")
		assert.Equal(t, got[0].Get("CallSid"), got[1].Get("CallSid"))
		assert.Empty(t, e.legs("Bob"))
		e.assertReservations(caller.TaskSid, "Alice completed")
	})
	t.Run("the status callback", func(t *testing.T) {
		t.Parallel()
		f := &failOnce{path: "/status-callback", match: func(v url.Values) bool { return v.Get("CallStatus") == "no-answer" }}
		e := newSandboxE2E(t, e2eSpeed, e2eSpec, map[string]string{"RING_TIMEOUT": "20"}, app.WithMiddleware(f.wrap))
		e.setAgents(map[string]voice.Persona{"Alice": voice.NoAnswer(), "Bob": human()})
		caller := e.ended(e.call(voice.Human(0, 0)))

		e.bridgedTo(caller, "Bob")
		got := f.deliveries()
		require.Len(t, got, 2, "answered 503, then re-delivered")
		assert.Equal(t, got[0].Get("CallSid"), got[1].Get("CallSid"))
		e.assertReservations(caller.TaskSid, "Alice rejected", "Bob completed")
		assert.Zero(t, e.metric("queuebridge_reconciler_repairs_total"), "the re-delivery, not the reconciler, rejected it")
	})
	t.Run("the TaskRouter event callback", func(t *testing.T) {
		t.Parallel()
		// The sandbox's event sender retries only as the URL's overrides say (a 5xx is not
		// retried by default): without rp=5xx this reservation would wait for its time-out.
		f := &failOnce{path: "/taskrouter/events", match: func(v url.Values) bool { return v.Get("EventType") == "reservation.created" }}
		e := newSandboxE2E(t, e2eSpeed, e2eSpec, nil, app.WithMiddleware(f.wrap))
		e.setAgents(map[string]voice.Persona{"Alice": human(), "Bob": human()})
		caller := e.ended(e.call(voice.Human(0, 0)))

		e.bridgedTo(caller, "Alice")
		got := f.deliveries()
		require.Len(t, got, 2, "answered 503, then re-delivered")
		assert.Equal(t, got[0].Get("Sid"), got[1].Get("Sid"), "the same event")
		assert.Empty(t, e.legs("Bob"))
		e.assertReservations(caller.TaskSid, "Alice completed")
	})
}

// Item 5: the start-up checks, with the sandbox as the account and cmd/bridge's run as a user
// runs it: each mistake is refused with the variable to fix; fixed, the bridge starts.
func TestRealAccountStartUpChecks(t *testing.T) {
	t.Parallel()
	e := newE2E(t, nil)
	account, token := e.env.Sandbox.Credentials()
	good := func() map[string]string {
		return map[string]string{
			"TWILIO_ACCOUNT_SID": account, "TWILIO_AUTH_TOKEN": token, "TWILIO_API_URL": e.env.Sandbox.URL(),
			"TWILIO_WORKSPACE_SID": e.env.Outputs.WorkspaceSID, "PUBLIC_BASE_URL": e.env.BridgeURL,
			"DATABASE_URL": filepath.Join(t.TempDir(), "other.db"), "PORT": "0",
		}
	}
	events := e.env.BridgeURL + "/taskrouter/events"
	for _, tc := range []struct {
		name, key, value string
		want             []string
	}{
		{"events sent elsewhere", "PUBLIC_BASE_URL", "https://bridge.example.com",
			[]string{`sends its events to "` + events + "#", `not to this bridge's "https://bridge.example.com/taskrouter/events"`, "cmd/bootstrap apply"}},
		{"wrong token", "TWILIO_AUTH_TOKEN", "0123456789abcdef0123456789abcdef",
			[]string{"refused the credentials (401)", "TWILIO_AUTH_TOKEN", e.env.Sandbox.URL() + " (TWILIO_API_URL)"}},
		{"wrong workspace", "TWILIO_WORKSPACE_SID", "WS0000000000000000000000000000dead",
			[]string{"has no workspace WS0000000000000000000000000000dead (404)", "TWILIO_WORKSPACE_SID"}},
		{"caller ID neither owned nor verified", "CALLER_ID", "+15550207777",
			[]string{"CALLER_ID +15550207777 is neither a phone number of account " + account, "21210"}},
	} {
		vars := good()
		vars[tc.key] = tc.value
		// A bridge that wrongly starts serves until this context ends, then returns nil.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var out, errOut testkit.SyncBuffer
		err := run(ctx, []string{"-env-file", ""}, env(vars), &out, &errOut)
		cancel()
		require.Error(t, err, tc.name)
		for _, want := range tc.want {
			assert.Contains(t, err.Error(), want, tc.name)
		}
		assert.NotContains(t, err.Error(), "(null)", tc.name)
		assert.NotContains(t, out.String(), "listening on", tc.name)
	}

	// The same settings, the caller ID now verified (and one the account owns): the bridge starts.
	e.env.Sandbox.Voice().VerifyCallerID("+15550207777")
	for _, callerID := range []string{"+15550207777", demo.Number} {
		vars := good()
		vars["CALLER_ID"] = callerID
		ctx, cancel := context.WithCancel(context.Background())
		var out, errOut testkit.SyncBuffer
		done := make(chan error, 1)
		go func() { done <- run(ctx, []string{"-env-file", ""}, env(vars), &out, &errOut) }()
		require.Eventually(t, func() bool { return strings.Contains(out.String(), "listening on") }, 10*time.Second, 5*time.Millisecond,
			"CALLER_ID %s: stderr %s", callerID, errOut.String())
		cancel()
		assert.NoError(t, testkit.Receive(t, done, 10*time.Second, "run to return"))
	}
}
