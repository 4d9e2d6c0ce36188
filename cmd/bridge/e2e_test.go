package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/app"
	"queuebridge/sandbox/clock"
	sbtr "queuebridge/sandbox/taskrouter"
	"queuebridge/sandbox/voice"
	"queuebridge/scripts/demo"
)

// The end-to-end suite: the real bridge (HTTP server, SQLite, dispatcher, twilio-go) against the
// sandbox, provisioned by the bootstrap code from a spec, with callers dialing the IVR. Each test
// asserts the caller's fate, every agent leg's, the task's and reservations' final states and the
// workers' activities. The sandbox's clock runs 50 times faster than real time.

const e2eSpeed = 50

// e2eSpec is the example's shape with one queue for everyone: Alice, then Bob, then Carol are
// rung (longest idle first), and a task nobody takes leaves the workflow after 300 s.
const e2eSpec = `
workspace:
  name: e2e
  timeout_activity: Missed Call
activities:
  - name: Available
    available: true
  - name: Unavailable
  - name: Offline
  - name: Missed Call
queues:
  - name: Everyone
    target_workers: 1==1
workers:
  - {name: Alice, contact_uri: "+15005550101", activity: Available}
  - {name: Bob, contact_uri: "+15005550102", activity: Available}
  - {name: Carol, contact_uri: "+15005550103", activity: Available}
workflow:
  name: Inbound
  filters:
    - name: All
      expression: 1==1
      targets:
        - queue: Everyone
          timeout: 300
  default_queue: Everyone
flow:
  name: e2e IVR
  greeting: Hello.
  enqueue:
    timeout: 3600
  voicemail:
    prompt: Please leave a message.
    max_length: 60
numbers:
  - phone_number: "+15005550006"
`

var agents = map[string]string{"Alice": "+15005550101", "Bob": "+15005550102", "Carol": "+15005550103"}

type e2e struct {
	t      *testing.T
	env    *app.SandboxEnv
	dbPath string
	cfg    app.Config
}

var callerSeq atomic.Int64

func newE2E(t *testing.T, vars map[string]string) *e2e {
	t.Helper()
	return newE2EWithSpec(t, e2eSpec, vars)
}

func newE2EWithSpec(t *testing.T, spec string, vars map[string]string) *e2e {
	t.Helper()
	return newE2EAt(t, e2eSpeed, spec, vars)
}

// newE2EAt runs the sandbox's clock speed times faster than real time.
func newE2EAt(t *testing.T, speed float64, spec string, vars map[string]string, opts ...app.Option) *e2e {
	t.Helper()
	e := &e2e{t: t, dbPath: filepath.Join(t.TempDir(), "qb.db")}
	all := map[string]string{"DATABASE_URL": e.dbPath, "PORT": "0"}
	for k, v := range vars {
		all[k] = v
	}
	cfg, err := app.LoadConfig(func(k string) string { return all[k] })
	require.NoError(t, err)
	e.cfg = cfg
	env, err := app.StartSandbox(context.Background(), app.SandboxSetup{
		Config: cfg, Spec: []byte(spec), Clock: clock.NewScaled(speed),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Listen: "127.0.0.1:0", Options: opts,
	})
	require.NoError(t, err)
	e.env = env
	t.Cleanup(func() { _ = e.env.Close() })
	return e
}

func (e *e2e) setAgents(personas map[string]voice.Persona) {
	for name, p := range personas {
		e.env.Sandbox.SetPersona(agents[name], p)
	}
}

// call places a call from a new caller with the persona to the IVR.
func (e *e2e) call(caller voice.Persona) string {
	e.t.Helper()
	from := fmt.Sprintf("+1555020%04d", callerSeq.Add(1))
	e.env.Sandbox.SetPersona(from, caller)
	sid, err := e.env.Sandbox.PlaceCall(context.Background(), from, demo.Number)
	require.NoError(e.t, err)
	return sid
}

func (e *e2e) ended(sid string) voice.CallInfo {
	e.t.Helper()
	info, err := demo.WaitCallEnded(context.Background(), e.env, sid, 30*time.Second)
	require.NoError(e.t, err)
	require.NoError(e.t, demo.WaitSettled(context.Background(), e.env, info.TaskSid, 30*time.Second))
	return info
}

// legs returns the agent legs placed to the agent, oldest first.
func (e *e2e) legs(name string) []voice.CallInfo {
	var out []voice.CallInfo
	for _, c := range e.env.Sandbox.Voice().Calls() {
		if c.To == agents[name] && c.Direction == "outbound-api" {
			out = append(out, c)
		}
	}
	return out
}

func (e *e2e) task(sid string) sbtr.Task {
	e.t.Helper()
	task, ok := e.env.Sandbox.TaskRouter().Task(sid)
	require.True(e.t, ok, "task %s", sid)
	return task
}

func (e *e2e) worker(name string) sbtr.Worker {
	e.t.Helper()
	w, ok := e.env.Sandbox.TaskRouter().Worker(e.env.Outputs.Workers[name])
	require.True(e.t, ok, "worker %s", name)
	return w
}

// eventually waits for cond on the sandbox's or the bridge's state.
func (e *e2e) eventually(cond func() bool, what string) {
	e.t.Helper()
	require.Eventually(e.t, cond, 20*time.Second, 5*time.Millisecond, what)
}

// bridgedTo asserts the caller was bridged to the agent, whose AMD verdict was human (or the
// verdict given), and returns the agent's leg.
func (e *e2e) bridgedTo(caller voice.CallInfo, name string, verdict ...string) voice.CallInfo {
	e.t.Helper()
	require.NotEmpty(e.t, caller.BridgedWith, "caller %s was never bridged (queue result %q)", caller.Sid, caller.QueueResult)
	leg, ok := e.env.Sandbox.Voice().Call(caller.BridgedWith)
	require.True(e.t, ok)
	assert.Equal(e.t, agents[name], leg.To, "bridged to the wrong agent")
	want := "human"
	if len(verdict) > 0 {
		want = verdict[0]
	}
	assert.Equal(e.t, want, leg.AnsweredBy, "a caller is only ever bridged to a human")
	return leg
}

// assertReservations waits for the bridge's record of the task's reservations to reach want, in
// order (wrap-up and completion events trail the end of the call), and checks that TaskRouter
// holds none pending.
func (e *e2e) assertReservations(taskSid string, want ...string) {
	e.t.Helper()
	assert.EventuallyWithT(e.t, func(c *assert.CollectT) {
		list, err := e.env.App.Store.TaskReservations(context.Background(), taskSid)
		if !assert.NoError(c, err) {
			return
		}
		var got []string
		for _, r := range list {
			got = append(got, demo.NameOf(agents, r.ContactURI)+" "+string(r.State))
		}
		assert.Equal(c, want, got)
	}, 20*time.Second, 5*time.Millisecond)
	for _, r := range e.env.Sandbox.TaskRouter().TaskReservations(taskSid) {
		assert.NotEqual(e.t, "pending", r.ReservationStatus, "TaskRouter reservation %s left pending", r.Sid)
	}
}

func human() voice.Persona { return voice.Human(2*time.Second, 20*time.Second) }

func TestE2EFirstAgentHumanIsBridgedAndTaskCompleted(t *testing.T) {
	t.Parallel()
	e := newE2E(t, nil)
	e.setAgents(map[string]voice.Persona{"Alice": human(), "Bob": human(), "Carol": human()})
	caller := e.ended(e.call(voice.Human(0, 0)))

	leg := e.bridgedTo(caller, "Alice")
	assert.Equal(t, "completed", leg.Status)
	assert.Equal(t, "completed", caller.Status)
	assert.Empty(t, e.legs("Bob"))
	e.eventually(func() bool { return e.task(caller.TaskSid).AssignmentStatus == "completed" }, "the task is completed after wrap-up")
	e.assertReservations(caller.TaskSid, "Alice completed")
	e.eventually(func() bool { return e.worker("Alice").Available }, "Alice is available again")
	assert.Equal(t, "Available", e.worker("Alice").ActivityName)
}

func TestE2EVoicemailThenHuman(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"Enable", "DetectMessageEnd"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newE2E(t, map[string]string{"AMD_MODE": mode})
			e.setAgents(map[string]voice.Persona{"Alice": voice.Voicemail(2*time.Second, 6*time.Second, true), "Bob": human(), "Carol": human()})
			caller := e.ended(e.call(voice.Human(0, 0)))

			e.bridgedTo(caller, "Bob")
			alice := e.legs("Alice")
			require.Len(t, alice, 1)
			want := map[string]string{"Enable": "machine_start", "DetectMessageEnd": "machine_end_beep"}[mode]
			assert.Equal(t, want, alice[0].AnsweredBy)
			assert.Empty(t, alice[0].BridgedWith, "the voicemail never hears the caller")
			e.assertReservations(caller.TaskSid, "Alice rejected", "Bob completed")
		})
	}
}

func TestE2EEveryFailureThenHuman(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		persona voice.Persona
		status  string
	}{
		{"no-answer", voice.NoAnswer(), "no-answer"},
		{"busy", voice.Busy(), "busy"},
		{"failed", voice.Fail(), "failed"},
		{"fax", voice.Fax(2 * time.Second), "completed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newE2E(t, map[string]string{"RING_TIMEOUT": "20"})
			e.setAgents(map[string]voice.Persona{"Alice": tc.persona, "Bob": human(), "Carol": human()})
			caller := e.ended(e.call(voice.Human(0, 0)))
			e.bridgedTo(caller, "Bob")
			alice := e.legs("Alice")
			require.Len(t, alice, 1)
			assert.Equal(t, tc.status, alice[0].Status)
			if tc.name == "fax" {
				assert.Equal(t, "fax", alice[0].AnsweredBy)
			}
			e.assertReservations(caller.TaskSid, "Alice rejected", "Bob completed")
		})
	}
}

func TestE2EUnknownVerdictFollowsPolicy(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"connect", "reject"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			e := newE2E(t, map[string]string{"UNKNOWN_ANSWER": policy, "AMD_TIMEOUT": "5"})
			// Alice picks up and stays silent: AMD cannot decide.
			e.setAgents(map[string]voice.Persona{"Alice": voice.Unknown(2 * time.Second), "Bob": human(), "Carol": human()})
			caller := e.ended(e.call(voice.Human(0, 30*time.Second)))
			alice := e.legs("Alice")
			require.Len(t, alice, 1)
			assert.Equal(t, "unknown", alice[0].AnsweredBy)
			if policy == "connect" {
				e.bridgedTo(caller, "Alice", "unknown")
				e.assertReservations(caller.TaskSid, "Alice completed")
				return
			}
			e.bridgedTo(caller, "Bob")
			e.assertReservations(caller.TaskSid, "Alice rejected", "Bob completed")
		})
	}
}
