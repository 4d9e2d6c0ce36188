package faultsuite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/app"
	"queuebridge/internal/testkit"
	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/voice"
	"queuebridge/scripts/demo"
)

// The fault suite: the real bridge against the sandbox, with a fault injector between the bridge
// and Twilio (the test kit's fake, forwarding to the sandbox) misbehaving on a quarter of the
// bridge's requests with a fixed seed. Each mode runs faultCallers callers over agents who answer,
// send calls to voicemail, ring out or are busy, so most callers are reserved several times. The
// invariants: every caller bridged to a human or sent to voicemail, no reservation with two
// agent legs, no agent leg left up, no reservation open at TaskRouter or in the bridge.
// docs/RELIABILITY.md has the counts.

const (
	faultCallers  = 80
	faultSpeed    = 10 // the sandbox's clock against real time, by default
	faultFraction = 0.25
	faultTimeout  = time.Second // the bridge's REST timeout (a Timeout fault lasts this long)
)

type faultMode struct {
	name string
	pool []testkit.Fault
	ops  []string // operations the random faults hit; all when empty
	// always fails every request of an operation (a restricted key refused the Calls list).
	always map[string]testkit.Fault
	// agents is how many agents answer; fewer means the same agent is offered a task again.
	agents int
	// callbackDelay holds the agent legs' status callbacks that long (real time), as a slow
	// network would: a leg created behind a failed answer then reports only after the bridge
	// would have re-sent a blind create.
	callbackDelay time.Duration
	// callers is how many callers dial (default faultCallers).
	callers int
	// speed is the sandbox's clock against real time (default faultSpeed). A mode whose faults
	// cost real seconds runs slower, or the bridge's delays, magnified, would time every
	// reservation out.
	speed float64
}

var faultModes = []faultMode{
	{name: "429", pool: []testkit.Fault{testkit.Status(429)}},
	{name: "500", pool: []testkit.Fault{testkit.Status(500)}},
	{name: "502 JSON without status", pool: []testkit.Fault{testkit.GatewayJSON(502)}},
	{name: "503", pool: []testkit.Fault{testkit.Status(503)}},
	{name: "slow", pool: []testkit.Fault{testkit.Slow(300 * time.Millisecond), testkit.Slow(2 * faultTimeout)}},
	{name: "reset", pool: []testkit.Fault{testkit.ConnReset(), testkit.Applied(testkit.ConnReset())}},
	{name: "slow or queued creation", ops: []string{"create_call"}, callbackDelay: 500 * time.Millisecond, callers: 160,
		pool: []testkit.Fault{testkit.Applied(testkit.Timeout()), testkit.Applied(testkit.Status(500)), testkit.Applied(testkit.ConnReset())}},
	{name: "Calls list 4xx", ops: []string{"create_call"}, pool: []testkit.Fault{testkit.Applied(testkit.Timeout()), testkit.Timeout()},
		always: map[string]testkit.Fault{"list_calls": testkit.Code(403, 20003)}},
	{name: "task re-offered to the same agent", agents: 3,
		pool: []testkit.Fault{testkit.Applied(testkit.Timeout()), testkit.Status(503), testkit.ConnReset()}},
}

func TestFaultSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault suite: not in -short")
	}
	for i, mode := range faultModes {
		t.Run(mode.name, func(t *testing.T) { runFaultMode(t, mode, uint64(1000+i)) })
	}
}

// faultRun is one mode's bridge, sandbox and fault injector.
type faultRun struct {
	t       *testing.T
	env     *app.SandboxEnv
	front   *testkit.Twilio
	numbers []string
	callers atomic.Int64
}

// faultSpec has one queue for every agent, and a task nobody takes leaves the workflow (to
// voicemail) after 1,800 s. A reservation that times out leaves its agent available: under
// faults many do, and the agents must not run out.
const faultSpec = `
workspace:
  name: faults
  timeout_activity: Available
activities:
  - name: Available
    available: true
  - name: Offline
queues:
  - name: Everyone
    target_workers: 1==1
workers:
%s
workflow:
  name: Inbound
  filters:
    - name: All
      expression: 1==1
      targets:
        - queue: Everyone
          timeout: 1800
  default_queue: Everyone
flow:
  name: faults IVR
  greeting: Hello.
  enqueue:
    timeout: 3600
  voicemail:
    prompt: Please leave a message.
    max_length: 60
numbers:
  - phone_number: "%s"
`

func newFaultRun(t *testing.T, mode faultMode) *faultRun {
	t.Helper()
	agents := 10
	if mode.agents > 0 {
		agents = mode.agents
	}
	var workers strings.Builder
	r := &faultRun{t: t}
	for i := range agents {
		number := fmt.Sprintf("+1500555%04d", 2000+i)
		r.numbers = append(r.numbers, number)
		fmt.Fprintf(&workers, "  - {name: Agent%02d, contact_uri: %q, activity: Available}\n", i, number)
	}
	spec := fmt.Sprintf(faultSpec, workers.String(), demo.Number)
	speed := mode.speed
	if speed == 0 {
		speed = faultSpeed
	}
	vars := map[string]string{"DATABASE_URL": filepath.Join(t.TempDir(), "qb.db"), "PORT": "0", "RING_TIMEOUT": "15"}
	cfg, err := app.LoadConfig(func(k string) string { return vars[k] })
	require.NoError(t, err)
	// The bridge runs on real time, the sandbox faster: its waits are scaled to the sandbox.
	cfg.Options.LegReportWait = time.Duration(float64(10*time.Second) / speed)
	cfg.Options.RetryBase, cfg.Options.RetryMax = 20*time.Millisecond, time.Second
	env, err := app.StartSandbox(context.Background(), app.SandboxSetup{
		Config: cfg, Spec: []byte(spec), Clock: clock.NewScaled(speed),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Listen: "127.0.0.1:0",
		TwilioVia: func(sandboxURL string) string {
			r.front = testkit.NewTwilioWith(t, testkit.TwilioOptions{Forward: sandboxURL})
			return r.front.URL
		},
		Options: []app.Option{app.WithTwilioTimeout(faultTimeout)},
	})
	require.NoError(t, err)
	r.env = env
	t.Cleanup(func() { _ = env.Close() })
	for i, number := range r.numbers {
		env.Sandbox.SetPersona(number, faultPersona(i, mode.agents > 0))
	}
	env.Sandbox.Voice().SetCallsPerSecond(0)
	return r
}

// faultPersona is agent i: of each five, two answer, one's voicemail picks up, one rings out,
// one is busy. With few agents (a task re-offered to the same agent) one in three answers.
func faultPersona(i int, few bool) voice.Persona {
	if few {
		return []voice.Persona{voice.NoAnswer(), voice.Human(time.Second, 2*time.Second), voice.Voicemail(time.Second, 4*time.Second, true)}[i%3]
	}
	switch i % 5 {
	case 0:
		return voice.Voicemail(time.Second, 4*time.Second, true)
	case 1:
		return voice.NoAnswer()
	case 2:
		return voice.Busy()
	default:
		return voice.Human(time.Second, 2*time.Second)
	}
}

// call places a call from a new caller with the persona to the IVR.
func (r *faultRun) call(caller voice.Persona) (string, error) {
	from := fmt.Sprintf("+1555030%04d", r.callers.Add(1))
	r.env.Sandbox.SetPersona(from, caller)
	return r.env.Sandbox.PlaceCall(context.Background(), from, demo.Number)
}

// eventually waits for cond on the sandbox's or the bridge's state.
func (r *faultRun) eventually(cond func() bool, what string) {
	r.t.Helper()
	require.Eventually(r.t, cond, time.Minute, 10*time.Millisecond, what)
}

func runFaultMode(t *testing.T, mode faultMode, seed uint64) {
	r := newFaultRun(t, mode)
	for op, f := range mode.always {
		r.front.Fail(op, f, -1)
	}
	r.front.FailRandom(seed, faultFraction, mode.pool, mode.ops...)
	if mode.callbackDelay > 0 {
		r.env.Sandbox.Voice().SetWebhookFaults(voice.WebhookFaults{Delay: mode.callbackDelay, Kinds: []string{voice.HookStatus}})
	}

	callers := mode.callers
	if callers == 0 {
		callers = faultCallers
	}
	sids := make([]string, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sids[i], errs[i] = r.call(voice.Human(0, 0).WithMessage(3 * time.Second))
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))

	bridged, voicemail := r.callersResolved(sids)
	r.front.Clear() // the faults stop: what is left to do must now get done
	require.Eventually(t, func() bool {
		n, err := r.env.App.Store.PendingJobs(context.Background())
		return err == nil && n == 0
	}, time.Minute, 10*time.Millisecond, "the bridge carries out every job")
	reservations := r.settled(sids)
	legs := r.legsPerReservation()
	faults := 0
	for _, req := range r.front.Requests() {
		if !req.Fault.IsZero() {
			faults++
		}
	}
	t.Logf("mode %q seed %d: %d callers (%d bridged, %d voicemail), %d reservations, %d agent legs, %d faults injected in %d requests",
		mode.name, seed, callers, bridged, voicemail, reservations, len(legs), faults, len(r.front.Requests()))
	assert.Equal(t, callers, bridged+voicemail, "every caller resolved")
	assert.Positive(t, faults, "faults were injected")
}

// callersResolved waits for every caller's call to end and checks each was bridged to a human
// or left a voicemail.
func (r *faultRun) callersResolved(sids []string) (bridged, voicemail int) {
	f, err := demo.WaitFates(context.Background(), r.env, sids, 3*time.Minute)
	require.NoError(r.t, err)
	for _, p := range f.Problems {
		r.t.Error(p)
	}
	return f.Bridged, f.Voicemail
}

// settled waits until no reservation is open at TaskRouter or in the bridge and no agent leg is
// up, and returns how many reservations the bridge handled.
func (r *faultRun) settled(sids []string) int {
	tasks := make([]string, 0, len(sids))
	for _, sid := range sids {
		info, _ := r.env.Sandbox.Voice().Call(sid)
		tasks = append(tasks, info.TaskSid)
	}
	n := 0
	r.eventually(func() bool {
		for _, task := range tasks {
			for _, res := range r.env.Sandbox.TaskRouter().TaskReservations(task) {
				if res.ReservationStatus == "pending" || res.ReservationStatus == "accepted" {
					return false
				}
			}
		}
		for _, c := range r.env.Sandbox.Voice().Calls() {
			if c.Direction == "outbound-api" && (c.Status == "queued" || c.Status == "ringing" || c.Status == "in-progress") {
				return false
			}
		}
		n = 0
		for _, task := range tasks {
			list, err := r.env.App.Store.TaskReservations(context.Background(), task)
			if err != nil {
				return false
			}
			for _, res := range list {
				if res.State.Open() {
					return false
				}
			}
			n += len(list)
		}
		return true
	}, "every reservation over, every agent leg down")
	return n
}

// legsPerReservation maps each agent leg the sandbox placed to the reservation in its URL (read
// from the create request the injector forwarded) and fails the test for a reservation with
// two legs: a double call.
func (r *faultRun) legsPerReservation() map[string]string {
	t := r.t
	reservationOf := map[string]string{}
	for _, req := range r.front.Requests("create_call") {
		if req.SID == "" {
			continue // not forwarded: no call was created
		}
		u, err := url.Parse(req.Form.Get("Url"))
		require.NoError(t, err)
		reservationOf[req.SID] = u.Query().Get("reservation")
	}
	legs := map[string]string{}
	perReservation := map[string][]string{}
	for _, c := range r.env.Sandbox.Voice().Calls() {
		if c.Direction != "outbound-api" {
			continue
		}
		res, ok := reservationOf[c.Sid]
		require.True(t, ok, "agent leg %s was not created by the bridge", c.Sid)
		legs[c.Sid] = res
		perReservation[res] = append(perReservation[res], c.Sid)
	}
	for res, calls := range perReservation {
		assert.Len(t, calls, 1, "reservation %s has %d agent legs: a double call", res, len(calls))
	}
	return legs
}
