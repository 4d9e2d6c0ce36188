package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/app"
	"queuebridge/internal/testkit"
	"queuebridge/sandbox"
	"queuebridge/sandbox/clock"
	sbtr "queuebridge/sandbox/taskrouter"
	"queuebridge/sandbox/voice"
	"queuebridge/scripts/demo"
	"queuebridge/store"
)

// The crash test: the bridge binary runs as a subprocess against the sandbox (in this process)
// and is SIGKILLed at random moments while callers arrive, under faults on both sides (Twilio's
// REST API answering 429 / 500 / 503, slowly, or resetting the connection after acting;
// TaskRouter events duplicated and reordered), then restarted on the same SQLite database.
// Afterwards: every caller bridged to a human or left in voicemail, one agent leg at most per
// reservation, and every webhook the bridge acknowledged with a 2xx acted upon.

const (
	crashSeed    = 11
	crashCallers = 80
	crashKills   = 12
	crashSpeed   = 20 // the sandbox's clock runs 20 times faster than real time
	// crashFaultRate is the fraction of the bridge's Calls and Tasks requests that fail.
	crashFaultRate = 0.15
)

// crashAgents: four humans, a voicemail and a phone nobody answers.
var crashAgents = []struct {
	name, number string
	persona      voice.Persona
}{
	{"Ann", "+15005550201", voice.Human(2*time.Second, 8*time.Second)},
	{"Ben", "+15005550202", voice.Human(3*time.Second, 6*time.Second)},
	{"Cat", "+15005550203", voice.Human(1*time.Second, 10*time.Second)},
	{"Dan", "+15005550204", voice.Human(2*time.Second, 5*time.Second)},
	{"Vic", "+15005550205", voice.Voicemail(2*time.Second, 6*time.Second, true)},
	{"Nat", "+15005550206", voice.NoAnswer()},
}

func crashSpec() string {
	var workers strings.Builder
	for _, a := range crashAgents {
		fmt.Fprintf(&workers, "  - {name: %s, contact_uri: %q, activity: Available}\n", a.name, a.number)
	}
	return crashTimeouts(e2eSpec[:strings.Index(e2eSpec, "\nworkers:")] + "\nworkers:\n" + workers.String() + e2eSpec[strings.Index(e2eSpec, "\nworkflow:"):])
}

// crashTimeouts: callers wait in the queue up to 600 s of the sandbox's clock (30 s at 20×)
// before voicemail, and an agent whose reservation timed out (a bridge was down) is made
// available again.
func crashTimeouts(spec string) string {
	spec = strings.Replace(spec, "timeout: 300", "timeout: 600", 1)
	return strings.Replace(spec, "timeout_activity: Missed Call", "timeout_activity: Available", 1)
}

func TestCrashKillsUnderFaultsLoseNoAcknowledgedWork(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it a dozen times: not in -short")
	}
	began := time.Now()
	bin := crashBuildBridge(t)
	t.Logf("bridge built in %s", time.Since(began).Round(100*time.Millisecond))
	rng := rand.New(rand.NewPCG(crashSeed, crashSeed))
	c := newCrashRig(t, bin, rng)

	c.start()
	placed := c.placeCallers(rng)
	kills := 0
	targeted := 0
	for ; kills < crashKills; kills++ {
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond) // a random moment
		if rng.IntN(2) == 0 && c.rest.holdNextCreate(5*time.Second) {
			targeted++ // Twilio created the call; the bridge dies before it hears the answer
		}
		c.kill()
		c.rest.release()
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond) // down for a while
		c.start()
	}
	callers := testkit.Receive(t, placed, time.Minute, "every caller placed")
	c.waitResolved(callers, 90*time.Second)
	c.stop()
	c.check(callers)
	t.Logf("%d kills (%d while a created call's answer was in flight), %d callers, %d REST faults injected, %d webhooks acknowledged, %s",
		kills, targeted, len(callers), c.rest.faulted(), c.hooks.acked(), time.Since(began).Round(100*time.Millisecond))
}

// crashBuildBridge builds the binary once for the test.
func crashBuildBridge(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "bridge")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// crashRig is the sandbox, the proxies between it and the bridge, and the bridge process.
type crashRig struct {
	t      *testing.T
	sb     *sandbox.Sandbox
	rest   *crashRESTProxy
	hooks  *crashHookRecorder
	bin    string
	env    []string
	port   string
	dbPath string
	logs   []*testkit.SyncBuffer
	proc   *exec.Cmd
	exited chan error
}

func newCrashRig(t *testing.T, bin string, rng *rand.Rand) *crashRig {
	t.Helper()
	sb, err := sandbox.New(sandbox.Config{Clock: clock.NewScaled(crashSpeed)})
	require.NoError(t, err)
	require.NoError(t, sb.Start())
	t.Cleanup(func() { _ = sb.Close() })
	for _, a := range crashAgents {
		sb.SetPersona(a.number, a.persona)
	}
	sb.Voice().SetCallsPerSecond(0)
	sb.TaskRouter().SetDeliveryFaults(sbtr.DeliveryFaults{Duplicate: true, Reorder: true})

	c := &crashRig{t: t, sb: sb, bin: bin, port: crashFreePort(t), dbPath: filepath.Join(t.TempDir(), "qb.db")}
	c.rest = newCrashRESTProxy(t, sb.URL(), rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64())))
	c.hooks = newCrashHookRecorder(t, "http://127.0.0.1:"+c.port)
	c.env = c.provision()
	return c
}

// provision applies the spec to the sandbox for a bridge whose public URL is the webhook
// recorder's, and returns the bridge's environment.
func (c *crashRig) provision() []string {
	vars := map[string]string{"RING_TIMEOUT": "15", "DATABASE_URL": c.dbPath, "PORT": c.port}
	cfg, err := app.LoadConfig(func(k string) string { return vars[k] })
	require.NoError(c.t, err)
	account, token := c.sb.Credentials()
	cfg.PublicBaseURL = c.hooks.srv.URL
	cfg.Twilio.AccountSID, cfg.Twilio.AuthToken, cfg.Twilio.APIURL = account, token, c.sb.URL()
	outputs, err := app.Provision(context.Background(), cfg, []byte(crashSpec()))
	require.NoError(c.t, err)
	vars["TWILIO_ACCOUNT_SID"], vars["TWILIO_AUTH_TOKEN"] = account, token
	vars["TWILIO_WORKSPACE_SID"], vars["TWILIO_API_URL"] = outputs.WorkspaceSID, c.rest.srv.URL
	vars["PUBLIC_BASE_URL"], vars["LOG_LEVEL"] = c.hooks.srv.URL, "info"
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

func crashFreePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// start runs the bridge and waits until /healthz answers.
func (c *crashRig) start() {
	c.t.Helper()
	log := &testkit.SyncBuffer{}
	c.logs = append(c.logs, log)
	c.proc, c.exited = startBridge(c.t, c.bin, c.env, c.port, log)
}

// startBridge runs the bridge binary with env, its stderr into log, and waits until it answers
// /healthz on port; exited receives its end.
func startBridge(t *testing.T, bin string, env []string, port string, log *testkit.SyncBuffer) (proc *exec.Cmd, exited chan error) {
	t.Helper()
	cmd := exec.Command(bin, "-env-file", "")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, io.Discard, log
	require.NoError(t, cmd.Start())
	exited = make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("bridge exited at start (%v): %s", err, log.String())
		default:
		}
		if resp, err := http.Get("http://127.0.0.1:" + port + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd, exited
			}
		}
		require.True(t, time.Now().Before(deadline), "bridge not healthy after 30 s: %s", log.String())
		time.Sleep(20 * time.Millisecond)
	}
}

// kill SIGKILLs the bridge and waits for it to be gone.
func (c *crashRig) kill() {
	c.t.Helper()
	require.NoError(c.t, c.proc.Process.Kill())
	testkit.Receive(c.t, c.exited, 10*time.Second, "the killed bridge to exit")
}

// stop ends the last bridge gracefully (SIGTERM) and checks it exits 0.
func (c *crashRig) stop() {
	c.t.Helper()
	require.NoError(c.t, c.proc.Process.Signal(os.Interrupt))
	assert.NoError(c.t, testkit.Receive(c.t, c.exited, 30*time.Second, "the bridge to stop"))
}

// placeCallers places crashCallers callers at random moments from another goroutine and sends
// their call SIDs once all are placed.
func (c *crashRig) placeCallers(rng *rand.Rand) <-chan []string {
	gaps := make([]time.Duration, crashCallers)
	for i := range gaps {
		gaps[i] = time.Duration(rng.IntN(150)) * time.Millisecond
	}
	out := make(chan []string, 1)
	go func() {
		var sids []string
		for i, gap := range gaps {
			time.Sleep(gap)
			from := fmt.Sprintf("+1555030%04d", i)
			c.sb.SetPersona(from, voice.Human(0, 0).WithMessage(3*time.Second))
			sid, err := c.sb.PlaceCall(context.Background(), from, demo.Number)
			if err != nil {
				c.t.Errorf("placing caller %d: %v", i, err)
				continue
			}
			sids = append(sids, sid)
		}
		out <- sids
	}()
	return out
}

// waitResolved polls until every caller's call ended, every task is over at TaskRouter, no
// reservation is pending or accepted there, and the bridge's outbox is empty.
func (c *crashRig) waitResolved(callers []string, limit time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		why := c.unresolved(callers)
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			c.explain(why)
			c.t.Fatalf("not resolved after %s: %s", limit, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *crashRig) unresolved(callers []string) string {
	for _, sid := range callers {
		info, ok := c.sb.Voice().Call(sid)
		if !ok || !crashFinalStatus(info.Status) {
			return "caller " + sid + " " + info.Status
		}
		if task, ok := c.sb.TaskRouter().Task(info.TaskSid); ok && !c.taskOver(task) {
			return "task " + info.TaskSid + " " + task.AssignmentStatus
		}
		for _, r := range c.sb.TaskRouter().TaskReservations(info.TaskSid) {
			if r.ReservationStatus == "pending" || r.ReservationStatus == "accepted" {
				return "reservation " + r.Sid + " " + r.ReservationStatus
			}
		}
	}
	for _, leg := range c.sb.Voice().Calls() {
		if leg.Direction == "outbound-api" && !crashFinalStatus(leg.Status) {
			return "agent leg " + leg.Sid + " " + leg.Status
		}
	}
	if n := c.outbox(); n != 0 {
		return fmt.Sprintf("%d jobs in the outbox", n)
	}
	return ""
}

// explain logs what the sandbox, the webhook recorder and the bridge's logs know of the SID
// that why names, for a failure.
func (c *crashRig) explain(why string) {
	sid := crashSIDIn.FindString(why)
	if sid == "" {
		return
	}
	for _, e := range c.sb.Timeline(sid) {
		c.t.Logf("sandbox %s %s %s %s %v", e.Time.Format("15:04:05.000"), e.Kind, e.Sid, e.What, e.Detail)
	}
	c.hooks.mu.Lock()
	for _, d := range c.hooks.log {
		if d.form.Get("TaskSid") == sid || d.query.Get("task") == sid || strings.Contains(d.form.Encode(), sid) {
			c.t.Logf("webhook %s %s %s → %d", d.path, d.form.Get("EventType"), d.form.Get("CallStatus"), d.status)
		}
	}
	c.hooks.mu.Unlock()
	for i, log := range c.logs {
		for _, line := range strings.Split(log.String(), "\n") {
			if strings.Contains(line, sid) {
				c.t.Logf("bridge run %d: %s", i, line)
			}
		}
	}
}

var crashSIDIn = regexp.MustCompile(`[A-Z]{2}[0-9a-f]{32}`)

// taskOver: the task is completed or canceled, or in wrap-up after a reservation.wrapup the
// bridge never acknowledged (every delivery failed while it was down). The bridge has no way to
// learn of that wrap-up today (the reconciler looks at open reservations only), so such a task
// stays in wrapping: counted and reported by strandedInWrapup, not a lost acknowledgement.
func (c *crashRig) taskOver(task sbtr.Task) bool {
	switch task.AssignmentStatus {
	case "completed", "canceled":
		return true
	case "wrapping":
		return !c.hooks.ackedEvent("reservation.wrapup", task.Sid)
	}
	return false
}

// taskCompleted: the sandbox's timeline shows the task completed (TaskRouter deletes ended
// tasks after a few minutes of its clock, the timeline stays).
func (c *crashRig) taskCompleted(sid string) bool {
	for _, e := range c.sb.Timeline(sid) {
		if e.Kind == "task" && e.Sid == sid && e.What == "completed" {
			return true
		}
	}
	return false
}

// strandedInWrapup counts the callers' tasks left in wrapping.
func (c *crashRig) strandedInWrapup(callers []string) int {
	n := 0
	for _, sid := range callers {
		info, _ := c.sb.Voice().Call(sid)
		if task, ok := c.sb.TaskRouter().Task(info.TaskSid); ok && task.AssignmentStatus == "wrapping" {
			n++
		}
	}
	return n
}

var crashOutboxLine = regexp.MustCompile(`(?m)^queuebridge_outbox_jobs (\S+)$`)

// outbox is the bridge's queuebridge_outbox_jobs, -1 when unknown.
func (c *crashRig) outbox() int {
	resp, err := http.Get("http://127.0.0.1:" + c.port + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := crashOutboxLine.FindSubmatch(body)
	if m == nil {
		return -1
	}
	n, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return -1
	}
	return int(n)
}

func crashFinalStatus(s string) bool {
	switch s {
	case "completed", "busy", "failed", "no-answer", "canceled":
		return true
	}
	return false
}

// check asserts the invariants once everything is resolved.
func (c *crashRig) check(callers []string) {
	c.t.Helper()
	humans := map[string]bool{}
	for _, a := range crashAgents {
		humans[a.number] = a.persona.Kind == voice.KindHuman
	}
	bridged, voicemail := 0, 0
	for _, sid := range callers {
		info, _ := c.sb.Voice().Call(sid)
		switch {
		case info.BridgedWith != "":
			bridged++
			leg, _ := c.sb.Voice().Call(info.BridgedWith)
			assert.True(c.t, humans[leg.To], "caller %s bridged to %s, not a human", sid, leg.To)
			assert.Equal(c.t, "human", leg.AnsweredBy, "caller %s bridged to a machine", sid)
		case info.QueueResult == "leave":
			voicemail++
		default:
			c.t.Errorf("caller %s ended neither bridged nor in voicemail: queue result %q", sid, info.QueueResult)
		}
	}
	c.t.Logf("%d callers: %d bridged, %d to voicemail; %d tasks left in wrapping after their reservation.wrapup was lost while the bridge was down",
		len(callers), bridged, voicemail, c.strandedInWrapup(callers))
	c.checkLegs()
	c.checkAcknowledged()
	c.checkRejectLogs()
}

// checkLegs: every agent leg the sandbox holds was created through the proxy, and no
// reservation has two.
func (c *crashRig) checkLegs() {
	c.t.Helper()
	created := c.rest.createdCalls()
	perReservation := map[string][]string{}
	for call, res := range created {
		perReservation[res] = append(perReservation[res], call)
	}
	legs := 0
	for _, leg := range c.sb.Voice().Calls() {
		if leg.Direction == "outbound-api" {
			legs++
			assert.Contains(c.t, created, leg.Sid, "agent leg %s created without the bridge's request", leg.Sid)
		}
	}
	for res, calls := range perReservation {
		assert.Len(c.t, calls, 1, "reservation %s has %d agent legs: %v", res, len(calls), calls)
	}
	c.t.Logf("%d agent legs for %d reservations", legs, len(perReservation))
}

// crashFinalEvents are the TaskRouter events after which a reservation is no longer open.
var crashFinalEvents = map[string]bool{
	"reservation.rejected": true, "reservation.timeout": true, "reservation.canceled": true,
	"reservation.rescinded": true, "reservation.wrapup": true, "reservation.completed": true,
}

// checkAcknowledged: every reservation.created the bridge answered 2xx is in its database;
// every reservation an acknowledged final event (rejected, timeout, canceled, rescinded,
// wrapup, completed) named is over there; every acknowledged reservation.wrapup completed its
// task; the outbox is empty. A reservation whose final event never got through (every delivery
// failed while the bridge was down) may still be open in the database: the reconciler repairs
// it later; those are counted.
func (c *crashRig) checkAcknowledged() {
	c.t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, c.dbPath, nil)
	require.NoError(c.t, err)
	defer db.Close()
	n, err := db.PendingJobs(ctx)
	require.NoError(c.t, err)
	assert.Zero(c.t, n, "jobs left in the outbox")
	created, final := 0, 0
	for _, d := range c.hooks.acknowledged() {
		typ, res := d.form.Get("EventType"), d.form.Get("ReservationSid")
		if res == "" {
			continue
		}
		r, err := db.Reservation(ctx, res)
		switch {
		case typ == "reservation.created":
			created++
			assert.NoError(c.t, err, "acknowledged reservation.created for %s not stored", res)
		case crashFinalEvents[typ] && err == nil:
			final++
			assert.False(c.t, r.State.Open(), "reservation %s still %s after an acknowledged %s", res, r.State, typ)
		}
		if typ == "reservation.wrapup" {
			task := d.form.Get("TaskSid")
			assert.True(c.t, c.taskCompleted(task), "task %s not completed after an acknowledged wrap-up", task)
		}
	}
	c.t.Logf("acknowledged: %d reservation.created, %d final events; %d reservations still open in the database, their end lost while the bridge was down",
		created, final, c.staleOpen(ctx, db))
}

// staleOpen counts reservations open in the database whose end TaskRouter already reported.
func (c *crashRig) staleOpen(ctx context.Context, db *store.DB) int {
	open, err := db.OpenReservations(ctx, time.Now().Add(time.Hour), 10000)
	require.NoError(c.t, err)
	return len(open)
}

var crashRejectedLine = regexp.MustCompile(`msg="reservation rejected".* reservation=(WR[0-9a-f]{32})`)

// checkRejectLogs: "reservation rejected" is logged once per reservation, over every run.
func (c *crashRig) checkRejectLogs() {
	c.t.Helper()
	count := map[string]int{}
	for _, log := range c.logs {
		sc := bufio.NewScanner(strings.NewReader(log.String()))
		for sc.Scan() {
			if m := crashRejectedLine.FindStringSubmatch(sc.Text()); m != nil {
				count[m[1]]++
			}
		}
	}
	for res, n := range count {
		assert.Equal(c.t, 1, n, "reservation %s logged as rejected %d times", res, n)
	}
	c.t.Logf("%d reservations logged as rejected", len(count))
}

// crashRESTProxy stands between the bridge and the sandbox's REST API: a fraction of the Calls and
// Tasks requests fail (429, 503, a 502 whose JSON has no status, slow, or the connection reset
// after the sandbox acted), and every call created is recorded with its reservation.
type crashRESTProxy struct {
	srv      *httptest.Server
	upstream string
	client   *http.Client
	// rate is the fraction of Calls and Tasks requests that fail (crashFaultRate unless set).
	rate float64

	mu      sync.Mutex
	rng     *rand.Rand
	faults  int
	created map[string]string // call SID → reservation SID
	// hold, when set, holds the answer of the next Calls.create after the sandbox created the
	// call: the test kills the bridge meanwhile. held is signalled once one is held.
	hold chan struct{}
	held chan struct{}
}

// holdNextCreate arms the proxy to hold the next Calls.create answer, and reports whether one
// was held within d (the caller then kills the bridge and calls release).
func (p *crashRESTProxy) holdNextCreate(d time.Duration) bool {
	hold, held := make(chan struct{}), make(chan struct{}, 1)
	p.mu.Lock()
	p.hold, p.held = hold, held
	p.mu.Unlock()
	select {
	case <-held:
		return true
	case <-time.After(d):
		return false
	}
}

// release lets a held answer go (to a bridge that is gone) and disarms the hold.
func (p *crashRESTProxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hold != nil {
		close(p.hold)
		p.hold, p.held = nil, nil
	}
}

// waitIfHeld holds a Calls.create answer when the test armed a hold.
func (p *crashRESTProxy) waitIfHeld(r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/Calls.json") {
		return
	}
	p.mu.Lock()
	hold, held := p.hold, p.held
	p.held = nil // one answer held per arming
	p.mu.Unlock()
	if held == nil {
		return
	}
	held <- struct{}{}
	select {
	case <-hold:
	case <-time.After(10 * time.Second):
	}
}

func newCrashRESTProxy(t *testing.T, upstream string, rng *rand.Rand) *crashRESTProxy {
	p := &crashRESTProxy{upstream: upstream, rng: rng, rate: crashFaultRate, created: map[string]string{}, client: &http.Client{Timeout: 20 * time.Second}}
	p.srv = httptest.NewServer(p)
	t.Cleanup(p.srv.Close)
	return p
}

var crashFaultKinds = []string{"429", "503", "502 without status", "slow", "reset"}

func (p *crashRESTProxy) draw(r *http.Request) string {
	if !strings.Contains(r.URL.Path, "/Calls") && !strings.Contains(r.URL.Path, "/Tasks/") {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rng.Float64() >= p.rate {
		return ""
	}
	p.faults++
	return crashFaultKinds[p.rng.IntN(len(crashFaultKinds))]
}

func (p *crashRESTProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	fault := p.draw(r)
	switch fault {
	case "429":
		crashTwilioError(w, http.StatusTooManyRequests, `{"code":20429,"message":"Too Many Requests","status":429}`)
		return
	case "503":
		crashTwilioError(w, http.StatusServiceUnavailable, `{"code":20503,"message":"Service Unavailable","status":503}`)
		return
	case "502 without status":
		crashTwilioError(w, http.StatusBadGateway, `{"message":"Bad Gateway"}`)
		return
	case "slow":
		time.Sleep(500 * time.Millisecond)
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, p.upstream+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := p.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	p.recordCall(r, body, resp.StatusCode, answer)
	p.waitIfHeld(r)
	if fault == "reset" {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

var crashReservationInURL = regexp.MustCompile(`reservation=(WR[0-9a-f]{32})`)

// recordCall notes a call the sandbox created, with the reservation its URL names.
func (p *crashRESTProxy) recordCall(r *http.Request, body []byte, status int, answer []byte) {
	form, _ := url.ParseQuery(string(body))
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/Calls.json") || status != http.StatusCreated {
		return
	}
	var call struct {
		Sid string `json:"sid"`
	}
	_ = json.Unmarshal(answer, &call)
	res := ""
	if m := crashReservationInURL.FindStringSubmatch(form.Get("Url")); m != nil {
		res = m[1]
	}
	p.mu.Lock()
	p.created[call.Sid] = res
	p.mu.Unlock()
}

func (p *crashRESTProxy) createdCalls() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.created)
}

// createdAnyOf reports whether this proxy's bridge created a call for one of the reservations.
func (p *crashRESTProxy) createdAnyOf(reservations map[string]bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, res := range p.created {
		if reservations[res] {
			return true
		}
	}
	return false
}

func (p *crashRESTProxy) faulted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults
}

func crashTwilioError(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// crashDelivery is one webhook the sandbox sent and what the bridge answered (0: no answer).
type crashDelivery struct {
	path   string
	query  url.Values
	form   url.Values
	status int
	// target is the index of the bridge that answered (-1: none).
	target int
	at     time.Time
}

// crashHookRecorder is the bridges' public URL: a reverse proxy that forwards every webhook to
// one of its targets, round robin, and records the answer. Like a load balancer's "next
// upstream on connection error", a target that refuses the connection (a dead replica) is
// skipped; a request that reached a bridge is never sent to another.
type crashHookRecorder struct {
	srv     *httptest.Server
	targets []string
	client  *http.Client
	next    atomic.Uint64
	// avoid, when set, names the target a delivery should go to only when every other one
	// refuses the connection (-1: none).
	avoid func(query, form url.Values) int

	mu  sync.Mutex
	log []crashDelivery
}

func newCrashHookRecorder(t *testing.T, targets ...string) *crashHookRecorder {
	h := &crashHookRecorder{targets: targets,
		client: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	h.srv = httptest.NewServer(h)
	t.Cleanup(h.srv.Close)
	return h
}

// forward sends the request to the next target, or the ones after it while they refuse the
// connection, and returns the answer and the target's index.
func (h *crashHookRecorder) forward(r *http.Request, body []byte, d crashDelivery) (*http.Response, int, error) {
	n := len(h.targets)
	first := int(h.next.Add(1)-1) % n
	order := make([]int, 0, n)
	avoid := -1
	if h.avoid != nil {
		avoid = h.avoid(d.query, d.form)
	}
	for i := range n {
		if t := (first + i) % n; t != avoid {
			order = append(order, t)
		}
	}
	if avoid >= 0 && avoid < n {
		order = append(order, avoid)
	}
	var err error
	for _, target := range order {
		req, rerr := http.NewRequestWithContext(r.Context(), r.Method, h.targets[target]+r.URL.RequestURI(), bytes.NewReader(body))
		if rerr != nil {
			return nil, -1, rerr
		}
		req.Header = r.Header.Clone()
		var resp *http.Response
		if resp, err = h.client.Do(req); err == nil {
			return resp, target, nil
		}
		if op := (*net.OpError)(nil); !errors.As(err, &op) || op.Op != "dial" {
			return nil, -1, err // it may have reached the bridge: never sent twice
		}
	}
	return nil, -1, err
}

func (h *crashHookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	d := crashDelivery{path: r.URL.Path, query: r.URL.Query(), form: form, target: -1, at: time.Now()}
	defer func() {
		h.mu.Lock()
		h.log = append(h.log, d)
		h.mu.Unlock()
	}()
	resp, target, err := h.forward(r, body, d)
	if err != nil {
		http.Error(w, "bridge unreachable: "+err.Error(), http.StatusBadGateway)
		return
	}
	d.target = target
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	d.status = resp.StatusCode
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

// acknowledged are the deliveries the bridge answered with a 2xx.
func (h *crashHookRecorder) acknowledged() []crashDelivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []crashDelivery
	for _, d := range h.log {
		if d.status >= 200 && d.status <= 299 {
			out = append(out, d)
		}
	}
	return out
}

func (h *crashHookRecorder) acked() int { return len(h.acknowledged()) }

// ackedEvent: the bridge acknowledged an event of this type about the task.
func (h *crashHookRecorder) ackedEvent(typ, task string) bool {
	for _, d := range h.acknowledged() {
		if d.form.Get("EventType") == typ && d.form.Get("TaskSid") == task {
			return true
		}
	}
	return false
}
