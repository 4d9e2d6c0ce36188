package main

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/app"
	"queuebridge/internal/testkit"
	"queuebridge/sandbox"
	"queuebridge/sandbox/clock"
	sbtr "queuebridge/sandbox/taskrouter"
	"queuebridge/sandbox/voice"
	"queuebridge/scripts/demo"
	"queuebridge/store/postgres/pgtest"
)

// The replicas test: several bridge processes (the real binary, built once as the crash test
// builds it) share one PostgreSQL schema, behind a reverse proxy that spreads the sandbox's
// webhooks over them round robin, keeping every webhook about a reservation away from the
// replica that placed its agent leg while another one is up (so an answer, a leg's status and a
// task's cancel are handled by another replica than the dial). TaskRouter's events are
// duplicated and reordered. Each replica talks to the sandbox's REST API through its own
// recording proxy, so the test knows which replica created every leg. Mid-run one replica is
// SIGKILLed while Twilio's answer to its Calls.create is in flight.

const (
	replicaSeed = 12
	// replicaRate is callers placed per second: about what the agents answer, so that the
	// queue (and the sandbox's routing work, which grows with it) stays short.
	replicaRate = 20
	// replicaImpatient is the share of callers who hang up in the queue after a random wait: their
	// task is canceled, often while an agent's phone rings.
	replicaImpatient = 0.15
	// replicaTakeoverTarget is issue 12's bound on how long a dead replica's jobs wait.
	replicaTakeoverTarget = 10 * time.Second
)

// replicaRig is the sandbox, the proxies, and the bridge processes.
type replicaRig struct {
	t      *testing.T
	sb     *sandbox.Sandbox
	rest   []*crashRESTProxy
	hooks  *crashHookRecorder
	bin    string
	ports  []string
	envs   [][]string
	procs  []*exec.Cmd
	exited []chan error
	alive  []bool
	logs   []*testkit.SyncBuffer
	agents []string // the agents' numbers
}

// newReplicaRig provisions agents of mixed personas (mixedAgentsN) in a sandbox whose clock
// runs speed times faster than real time, for replicas bridges on databaseURL.
func newReplicaRig(t *testing.T, bin string, replicas int, databaseURL string, agents int, speed float64) *replicaRig {
	t.Helper()
	sb, err := sandbox.New(sandbox.Config{Clock: clock.NewScaled(speed)})
	require.NoError(t, err)
	require.NoError(t, sb.Start())
	t.Cleanup(func() { _ = sb.Close() })
	spec, personas := mixedAgentsN(agents, 3000, 3*time.Second)
	for number, p := range personas {
		sb.SetPersona(number, p)
	}
	sb.Voice().SetCallsPerSecond(0)
	sb.TaskRouter().SetDeliveryFaults(sbtr.DeliveryFaults{Duplicate: true, Reorder: true})

	r := &replicaRig{t: t, sb: sb, bin: bin}
	for number := range personas {
		r.agents = append(r.agents, number)
	}
	rng := rand.New(rand.NewPCG(replicaSeed, replicaSeed))
	var targets []string
	for range replicas {
		port := crashFreePort(t)
		p := newCrashRESTProxy(t, sb.URL(), rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())))
		p.rate = 0
		r.ports, r.rest = append(r.ports, port), append(r.rest, p)
		targets = append(targets, "http://127.0.0.1:"+port)
	}
	r.hooks = newCrashHookRecorder(t, targets...)
	r.hooks.avoid = r.placer
	r.provision(crashTimeouts(spec), databaseURL)
	r.procs, r.exited, r.alive = make([]*exec.Cmd, replicas), make([]chan error, replicas), make([]bool, replicas)
	return r
}

// provision applies the spec for bridges whose public URL is the reverse proxy's, and builds
// each replica's environment: its port and its own REST proxy.
func (r *replicaRig) provision(spec, databaseURL string) {
	// An agent whose leg got no human is moved to Missed Call (as the README advises), so the
	// queue drains through the humans.
	vars := map[string]string{"RING_TIMEOUT": "15", "NOANSWER_ACTIVITY": "Missed Call", "DATABASE_URL": filepath.Join(r.t.TempDir(), "provision.db")}
	cfg, err := app.LoadConfig(func(k string) string { return vars[k] })
	require.NoError(r.t, err)
	account, token := r.sb.Credentials()
	cfg.PublicBaseURL = r.hooks.srv.URL
	cfg.Twilio.AccountSID, cfg.Twilio.AuthToken, cfg.Twilio.APIURL = account, token, r.sb.URL()
	outputs, err := app.Provision(context.Background(), cfg, []byte(spec))
	require.NoError(r.t, err)
	vars["DATABASE_URL"] = databaseURL
	vars["TWILIO_ACCOUNT_SID"], vars["TWILIO_AUTH_TOKEN"] = account, token
	vars["TWILIO_WORKSPACE_SID"], vars["PUBLIC_BASE_URL"], vars["LOG_LEVEL"] = outputs.WorkspaceSID, r.hooks.srv.URL, "info"
	for i, port := range r.ports {
		vars["PORT"], vars["TWILIO_API_URL"] = port, r.rest[i].srv.URL
		env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
		for k, v := range vars {
			env = append(env, k+"="+v)
		}
		r.envs = append(r.envs, env)
	}
}

func (r *replicaRig) start(i int) {
	r.t.Helper()
	log := &testkit.SyncBuffer{}
	r.logs = append(r.logs, log)
	r.procs[i], r.exited[i] = startBridge(r.t, r.bin, r.envs[i], r.ports[i], log)
	r.alive[i] = true
}

// kill SIGKILLs replica i and waits for it to be gone.
func (r *replicaRig) kill(i int) {
	r.t.Helper()
	require.NoError(r.t, r.procs[i].Process.Kill())
	testkit.Receive(r.t, r.exited[i], 10*time.Second, "the killed bridge to exit")
	r.alive[i] = false
}

// stopAll ends the live replicas gracefully and checks each exits 0.
func (r *replicaRig) stopAll() {
	r.t.Helper()
	for i, p := range r.procs {
		if r.alive[i] {
			require.NoError(r.t, p.Process.Signal(os.Interrupt))
		}
	}
	for i := range r.procs {
		if r.alive[i] {
			assert.NoError(r.t, testkit.Receive(r.t, r.exited[i], 30*time.Second, "a bridge to stop"))
			r.alive[i] = false
		}
	}
}

// placer is the replica that created an agent leg for the reservation a webhook names (or for a
// reservation of the task it names), -1 when none: the reverse proxy starts elsewhere.
func (r *replicaRig) placer(query, form url.Values) int {
	reservations := map[string]bool{}
	for _, sid := range []string{query.Get("reservation"), form.Get("ReservationSid")} {
		if sid != "" {
			reservations[sid] = true
		}
	}
	if task := form.Get("TaskSid"); task != "" && form.Get("ReservationSid") == "" {
		for _, res := range r.sb.TaskRouter().TaskReservations(task) {
			reservations[res.Sid] = true
		}
	}
	if len(reservations) == 0 {
		return -1
	}
	for i, p := range r.rest {
		if p.createdAnyOf(reservations) {
			return i
		}
	}
	return -1
}

// caller is one placed caller and whether they may hang up in the queue.
type replicaCaller struct {
	sid       string
	impatient bool
}

// placeCallers places n callers, replicaRate a second, from another goroutine: each waits in
// the queue and leaves a message if nobody takes the call, or (replicaImpatient of them) hangs
// up after a random wait. It sends each caller as placed, and closes the channel at the end.
func (r *replicaRig) placeCallers(n int, rng *rand.Rand) <-chan replicaCaller {
	type plan struct {
		persona   voice.Persona
		impatient bool
	}
	plans := make([]plan, n)
	for i := range plans {
		plans[i].persona = voice.Human(0, 0).WithMessage(3 * time.Second)
		if rng.Float64() < replicaImpatient {
			plans[i] = plan{plans[i].persona.WithPatience(time.Duration(5+rng.IntN(60)) * time.Second), true}
		}
	}
	out := make(chan replicaCaller, n)
	go func() {
		defer close(out)
		start := time.Now()
		for i, p := range plans {
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / replicaRate)))
			from := fmt.Sprintf("+1555040%04d", i)
			r.sb.SetPersona(from, p.persona)
			sid, err := r.sb.PlaceCall(context.Background(), from, demo.Number)
			if err != nil {
				r.t.Errorf("placing caller %d: %v", i, err)
				continue
			}
			out <- replicaCaller{sid: sid, impatient: p.impatient}
		}
	}()
	return out
}

// created is every agent leg created through the replicas' REST proxies: call → reservation,
// and call → the replica that created it.
func (r *replicaRig) created() (reservation map[string]string, replica map[string]int) {
	reservation, replica = map[string]string{}, map[string]int{}
	for i, p := range r.rest {
		for call, res := range p.createdCalls() {
			reservation[call], replica[call] = res, i
		}
	}
	return reservation, replica
}

// waitResolved polls until every caller's call ended, every task is over, no reservation is
// pending or accepted at TaskRouter, every agent leg ended, and the outbox is empty.
func (r *replicaRig) waitResolved(callers []replicaCaller, limit time.Duration) {
	r.t.Helper()
	var sids []string
	for _, c := range callers {
		sids = append(sids, c.sid)
	}
	// First, cheaply (no timelines copied), until every caller's call is over.
	deadline := time.Now().Add(limit)
	for over := false; !over; {
		ended := map[string]bool{}
		for _, c := range r.sb.Voice().Calls() {
			ended[c.Sid] = crashFinalStatus(c.Status)
		}
		over = true
		for _, sid := range sids {
			over = over && ended[sid]
		}
		if !over {
			require.True(r.t, time.Now().Before(deadline), "callers still on the line after %s", limit)
			time.Sleep(100 * time.Millisecond)
		}
	}
	c := &crashRig{t: r.t, sb: r.sb, hooks: r.hooks, logs: r.logs}
	for i, alive := range r.alive {
		if alive {
			c.port = r.ports[i]
		}
	}
	c.waitResolved(sids, limit)
}

// checkFates: a patient caller is bridged to a human or leaves a voicemail; an impatient one
// may also have hung up in the queue.
func (r *replicaRig) checkFates(callers []replicaCaller) (bridged, voicemail, hungUp int) {
	r.t.Helper()
	var patient []string
	for _, c := range callers {
		if !c.impatient {
			patient = append(patient, c.sid)
			continue
		}
		info, ok := r.sb.Voice().Call(c.sid)
		require.True(r.t, ok)
		switch {
		case info.BridgedWith != "":
			bridged++
			leg, _ := r.sb.Voice().Call(info.BridgedWith)
			assert.Equal(r.t, "human", leg.AnsweredBy, "caller %s bridged to a machine", c.sid)
		case info.QueueResult == "leave":
			voicemail++
		case info.QueueResult == "hangup":
			hungUp++
		default:
			r.t.Errorf("impatient caller %s ended with queue result %q", c.sid, info.QueueResult)
		}
	}
	f, err := demo.WaitFates(context.Background(), &app.SandboxEnv{Sandbox: r.sb}, patient, time.Minute)
	require.NoError(r.t, err)
	for _, p := range f.Problems {
		r.t.Error(p)
	}
	return bridged + f.Bridged, voicemail + f.Voicemail, hungUp
}

// checkLegs: every agent leg was created through a replica's proxy, no reservation has two, and
// no task ever had two legs answered at the same time. It returns how many legs there were.
func (r *replicaRig) checkLegs() (legs int) {
	r.t.Helper()
	reservation, _ := r.created()
	perReservation := map[string][]string{}
	for call, res := range reservation {
		perReservation[res] = append(perReservation[res], call)
	}
	for res, calls := range perReservation {
		assert.Len(r.t, calls, 1, "reservation %s has %d agent legs: %v", res, len(calls), calls)
	}
	type up struct {
		call     string
		from, to time.Time
	}
	perTask := map[string][]up{}
	for _, leg := range r.sb.Voice().Calls() {
		if leg.Direction != "outbound-api" {
			continue
		}
		legs++
		require.Contains(r.t, reservation, leg.Sid, "agent leg %s created without a replica's request", leg.Sid)
		info, _ := r.sb.Voice().Call(leg.Sid)
		for _, e := range info.Timeline {
			if e.What == "status: in-progress" {
				task := r.taskOf(reservation[leg.Sid])
				perTask[task] = append(perTask[task], up{leg.Sid, e.Time, info.EndTime})
			}
		}
	}
	for task, ups := range perTask {
		slices.SortFunc(ups, func(a, b up) int { return a.from.Compare(b.from) })
		for i := 1; i < len(ups); i++ {
			assert.False(r.t, ups[i].from.Before(ups[i-1].to), "task %s: legs %s and %s answered at the same time", task, ups[i-1].call, ups[i].call)
		}
	}
	return legs
}

// cancelOnAnotherReplica: a caller hangs up while an agent's phone rings (every agent now lets
// it ring); the task.canceled (and reservation.canceled) go to another replica than the one that
// placed the leg, and the leg is canceled all the same.
func (r *replicaRig) cancelOnAnotherReplica() {
	r.t.Helper()
	for _, number := range r.agents {
		r.sb.SetPersona(number, voice.NoAnswer())
	}
	from := "+15550499999"
	r.sb.SetPersona(from, voice.Human(0, 0).WithPatience(5*time.Second))
	sid, err := r.sb.PlaceCall(context.Background(), from, demo.Number)
	require.NoError(r.t, err)
	caller, err := demo.WaitCallEnded(context.Background(), &app.SandboxEnv{Sandbox: r.sb}, sid, time.Minute)
	require.NoError(r.t, err)
	require.Equal(r.t, "hangup", caller.QueueResult, "the caller hung up in the queue")
	reservation, placedBy := r.created()
	var legs []string
	for call, res := range reservation {
		if r.taskOf(res) == caller.TaskSid {
			legs = append(legs, call)
		}
	}
	require.Len(r.t, legs, 1, "one agent's phone rang when the caller hung up")
	leg, placer := legs[0], placedBy[legs[0]]
	// The cancel events trail the caller's hang-up: wait for one acknowledged, and the leg over.
	require.Eventually(r.t, func() bool {
		info, _ := r.sb.Voice().Call(leg)
		return len(r.acknowledged(caller.TaskSid, ".canceled")) > 0 && info.Status == "canceled"
	}, 30*time.Second, 20*time.Millisecond, "the leg replica %d placed is canceled after a replica acknowledged the task's cancel", placer)
	canceledOn := r.acknowledged(caller.TaskSid, ".canceled")
	assert.NotContains(r.t, canceledOn, placer, "the cancel reached the replica that placed the leg: the test did not exercise another one")
	r.t.Logf("caller hung up: task canceled on replicas %v, leg %s placed by replica %d canceled", slices.Sorted(maps.Keys(canceledOn)), leg, placer)
}

// acknowledged is the replicas that answered 2xx to an event about the task whose type ends
// with suffix.
func (r *replicaRig) acknowledged(task, suffix string) map[int]bool {
	r.hooks.mu.Lock()
	defer r.hooks.mu.Unlock()
	on := map[int]bool{}
	for _, d := range r.hooks.log {
		if d.form.Get("TaskSid") == task && strings.HasSuffix(d.form.Get("EventType"), suffix) && d.status/100 == 2 {
			on[d.target] = true
		}
	}
	return on
}

// spreadDuplicates counts the TaskRouter events (by event Sid) that the sandbox delivered more
// than once and that reached more than one replica.
func (r *replicaRig) spreadDuplicates() int {
	r.hooks.mu.Lock()
	defer r.hooks.mu.Unlock()
	replicas := map[string]map[int]bool{}
	for _, d := range r.hooks.log {
		if sid := d.form.Get("Sid"); d.form.Get("EventType") != "" && sid != "" && d.target >= 0 {
			if replicas[sid] == nil {
				replicas[sid] = map[int]bool{}
			}
			replicas[sid][d.target] = true
		}
	}
	n := 0
	for _, targets := range replicas {
		if len(targets) > 1 {
			n++
		}
	}
	return n
}

// taskOf is the task of a reservation, from the reservation.created events delivered.
func (r *replicaRig) taskOf(reservation string) string {
	r.hooks.mu.Lock()
	defer r.hooks.mu.Unlock()
	for _, d := range r.hooks.log {
		if d.form.Get("ReservationSid") == reservation && d.form.Get("TaskSid") != "" {
			return d.form.Get("TaskSid")
		}
	}
	return "unknown task of " + reservation
}

// TestE2EThreeReplicasOnOnePostgreSQL: three bridges on one PostgreSQL schema, 300 callers
// (15% impatient) and 30 agents of mixed personas, events duplicated and reordered, one replica
// SIGKILLed mid-dial when half the callers are in: every caller ends bridged to a human, in
// voicemail or (impatient) hung up; nothing stays open; one leg per reservation and never two
// answered legs for one task; the dead replica's dial job finished by another within 10 s; and
// a task canceled on one replica ends the leg another placed.
func TestE2EThreeReplicasOnOnePostgreSQL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three bridges: not in -short")
	}
	databaseURL := pgtest.Schema(t) // skips without a server, unless QUEUEBRIDGE_REQUIRE_POSTGRES=1
	const replicas = 3
	began := time.Now()
	bin := crashBuildBridge(t)
	r := newReplicaRig(t, bin, replicas, databaseURL, 30, 20)
	for i := range replicas {
		r.start(i)
	}
	t.Logf("%d bridges built and started in %s", replicas, time.Since(began).Round(100*time.Millisecond))
	placed := r.placeCallers(300, rand.New(rand.NewPCG(replicaSeed, 1)))
	var callers []replicaCaller
	for c := range placed {
		callers = append(callers, c)
		if len(callers) == 150 {
			break
		}
	}
	takeover := r.killMidDial(0, databaseURL)
	for c := range placed {
		callers = append(callers, c)
	}
	r.waitResolved(callers, 2*time.Minute)
	bridged, voicemail, hungUp := r.checkFates(callers)
	legs := r.checkLegs()
	r.cancelOnAnotherReplica()
	spread := r.spreadDuplicates()
	t.Logf("%d callers: %d bridged, %d to voicemail, %d hung up in the queue; %d agent legs; %d events delivered to several replicas; takeover %s; %s",
		len(callers), bridged, voicemail, hungUp, legs, spread, takeover.Round(time.Millisecond), time.Since(began).Round(100*time.Millisecond))
	assert.Positive(t, spread, "no duplicated event reached two replicas: the test did not exercise it")
	assert.Less(t, takeover, replicaTakeoverTarget, "a dead replica's job is taken over within the target")
	r.stopAll()
}

// killMidDial SIGKILLs replica victim while Twilio's answer to one of its Calls.create is in
// flight (the call exists; the replica never learns its SID), and returns the takeover time: from
// the kill until another replica has claimed and finished that dial job. A dial job is claimed
// with a lease its replica renews while it runs; the dead replica's lease ends, another claims
// the job and finds the reservation's leg (its status callbacks, which name the reservation,
// reached the live replicas meanwhile), or waits for it and looks it up, as after a restart.
func (r *replicaRig) killMidDial(victim int, databaseURL string) time.Duration {
	r.t.Helper()
	before := r.rest[victim].createdCalls()
	require.True(r.t, r.rest[victim].holdNextCreate(30*time.Second), "replica %d placed no call within 30 s", victim)
	r.kill(victim)
	killed := time.Now()
	r.rest[victim].release()
	var inFlight []string
	for call, res := range r.rest[victim].createdCalls() {
		if _, ok := before[call]; !ok {
			inFlight = append(inFlight, res)
		}
	}
	require.NotEmpty(r.t, inFlight)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, databaseURL)
	require.NoError(r.t, err)
	defer conn.Close(ctx)
	for {
		var n int
		require.NoError(r.t, conn.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE kind = 'dial' AND reservation_sid = ANY($1)`, inFlight).Scan(&n))
		if n == 0 {
			break
		}
		require.Less(r.t, time.Since(killed), time.Minute, "the dead replica's dial job for %v is still in the outbox a minute after the kill", inFlight)
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(killed)
	r.t.Logf("replica %d killed with the answer to its Calls.create for %v in flight; its dial job finished by another replica %s after the kill",
		victim, inFlight, took.Round(time.Millisecond))
	return took
}
