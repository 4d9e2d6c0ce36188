package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"time"

	trapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"queuebridge/internal/app"
	"queuebridge/sandbox"
	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/voice"
	"queuebridge/taskrouter/provision"
	"queuebridge/twiliogo"
)

// day is everything drawn from the seed: the same for every strategy.
type day struct {
	Seed    uint64
	Callers []caller
	Agents  []agent
	AMD     amdErrors
}

func newDay(seed uint64, nCallers, nAgents int, errs amdErrors) *day {
	return &day{Seed: seed, Callers: callers(seed, nCallers), Agents: agents(seed, nAgents), AMD: errs}
}

// Activities of the example spec the day uses.
const (
	activityAvailable  = "Available"
	activityBreak      = "Unavailable"
	activityMissedCall = "Missed Call"
)

// scanEvery is how often the agents' activities are looked at besides right after the bridge
// moved one (a reservation that timed out moves its worker without the bridge), and how often
// after closing hours the day checks whether the last caller has hung up.
const scanEvery = 5 * time.Minute

// drainLimit bounds the time after closing hours for the last calls to end.
const drainLimit = 3 * time.Hour

// dayRun is one strategy's day: the sandbox on a manual clock, the bridge, and the harness
// that places the callers' calls and moves the agents.
type dayRun struct {
	day   *day
	strat strategy
	clk   *clock.Manual
	env   *app.SandboxEnv
	legs  *legBook
	tr    *trapi.ApiService
	drv   *driver
	log   *slog.Logger

	callSids  []string // by caller index
	workerIdx map[string]int
	returning map[int]bool       // agents whose return from Missed Call is scheduled
	returns   map[int]*rand.Rand // each agent's stream for those returns
	ended     int                // callers known to have hung up, in arrival order
	finished  bool

	mu   sync.Mutex
	errs []error
}

const streamReturns = 2000 // + agent index

// specFor is the example spec with the day's agents as workers and the strategy's changes.
func specFor(d *day, s strategy) ([]byte, error) {
	spec, err := provision.LoadSpec(provision.ExampleSpec)
	if err != nil {
		return nil, err
	}
	spec.Workers = nil
	for _, a := range d.Agents {
		spec.Workers = append(spec.Workers, provision.SpecWorker{Name: a.Name, ContactURI: a.Number, Skills: a.Skills, Activity: activityAvailable})
	}
	if s.MaxReservedWorkers > 0 {
		for i := range spec.Queues {
			spec.Queues[i].MaxReservedWorkers = s.MaxReservedWorkers
		}
	}
	return json.Marshal(spec)
}

// startDay builds the sandbox and the bridge for the strategy, provisions the workspace and
// schedules the day's callers and breaks on the clock.
func startDay(ctx context.Context, d *day, s strategy, dbDir string, speed float64, log *slog.Logger) (*dayRun, error) {
	spec, err := specFor(d, s)
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	vars := s.env()
	vars["DATABASE_URL"] = filepath.Join(dbDir, s.Key+".db")
	vars["PORT"] = "0"
	cfg, err := app.LoadConfig(func(k string) string { return vars[k] })
	if err != nil {
		return nil, fmt.Errorf("strategy %s: %w", s.Key, err)
	}
	// One job at a time: jobs then reach the sandbox in the order their webhooks were stored,
	// so the day does not depend on goroutine timing. Simulated time stands still meanwhile,
	// so this costs the callers nothing.
	cfg.Options.Workers = 1
	clk := clock.NewManual(dayStart.Add(-5 * time.Minute))
	r := &dayRun{day: d, strat: s, clk: clk, log: log, callSids: make([]string, len(d.Callers)),
		workerIdx: map[string]int{}, returning: map[int]bool{}, returns: map[int]*rand.Rand{}}
	var sb *sandbox.Sandbox
	r.legs = newLegBook(d, func() time.Duration { return clk.Now().Sub(dayStart) },
		func(number string, p voice.Persona) { sb.SetPersona(number, p) })
	env, err := app.StartSandbox(ctx, app.SandboxSetup{
		Config: cfg, Spec: spec, Clock: clk, Log: log, Listen: "127.0.0.1:0",
		TwilioVia: func(u string) string {
			proxied, err := r.legs.start(u)
			if err != nil {
				r.fail(err)
				return u
			}
			return proxied
		},
		// The reconciler repairs lost webhooks on real time; the day loses none, and it must
		// not decide anything on a clock the day does not run on.
		Options: []app.Option{app.WithReconcile(1000*time.Hour, 0)},
	})
	if err != nil {
		r.legs.close()
		return nil, fmt.Errorf("strategy %s: starting the sandbox and the bridge: %w", s.Key, err)
	}
	sb = env.Sandbox
	r.env = env
	for i, a := range d.Agents {
		r.workerIdx[env.Outputs.Workers[a.Name]] = i
	}
	ac, token := sb.Credentials()
	rc, err := twiliogo.New(twiliogo.Credentials{AccountSID: ac, AuthToken: token}, sb.URL(), 10*time.Second)
	if err != nil {
		r.close()
		return nil, err
	}
	r.tr = rc.TaskrouterV1
	r.drv = newDriver(clk, sb, env.App.Store.PendingJobs, speed)
	r.drv.quiet = func() {
		if r.legs.takeMoved() {
			r.scanMissed()
		}
	}
	r.schedule(ctx)
	return r, nil
}

func (r *dayRun) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
}

func (r *dayRun) problems() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return errors.Join(append(append([]error(nil), r.errs...), r.legs.problems())...)
}

func (r *dayRun) close() {
	if r.env != nil {
		if err := r.env.Close(); err != nil {
			r.log.Warn("closing the day", "err", err)
		}
	}
	r.legs.close()
}

// at schedules f at offset t into the day.
func (r *dayRun) at(t time.Duration, f func()) {
	r.clk.AfterFunc(dayStart.Add(t).Sub(r.clk.Now()), f)
}

// schedule puts the callers' calls, the agents' breaks and the activity scan on the clock.
func (r *dayRun) schedule(ctx context.Context) {
	for i, c := range r.day.Callers {
		r.at(c.At, func() {
			r.env.Sandbox.SetPersona(c.Number, c.Persona)
			sid, err := r.env.Sandbox.PlaceCall(ctx, c.Number, sandbox.DefaultNumber)
			if err != nil {
				r.fail(fmt.Errorf("caller %d: %w", i, err))
			}
			r.callSids[i] = sid
		})
	}
	for i, a := range r.day.Agents {
		for _, b := range a.Breaks {
			r.at(b.From, func() { r.setActivity(i, activityBreak, true) })
			r.at(b.To, func() { r.setActivity(i, activityAvailable, false) })
		}
	}
	r.at(0, func() { r.scan(ctx) })
}

// setActivity moves agent i to the activity, as the agent does in their softphone. Going on a
// break rejects a reservation still ringing (RejectPendingReservations, as Flex does).
func (r *dayRun) setActivity(i int, name string, rejectPending bool) {
	sid := r.env.Outputs.Workers[r.day.Agents[i].Name]
	p := (&trapi.UpdateWorkerParams{}).SetActivitySid(r.env.Outputs.Activities[name])
	if rejectPending {
		p.SetRejectPendingReservations(true)
	}
	if _, err := r.tr.UpdateWorker(r.env.Outputs.WorkspaceSID, sid, p); err != nil {
		r.fail(fmt.Errorf("agent %s to %s: %w", r.day.Agents[i].Name, name, err))
	}
}

// scan looks at the agents' activities every scanEvery, and after closing hours watches for
// the last caller to hang up.
func (r *dayRun) scan(ctx context.Context) {
	now := r.clk.Now().Sub(dayStart)
	r.scanMissed()
	if now >= dayLength {
		r.finished = r.allCallersGone()
	}
	if !r.finished {
		r.at(now+scanEvery, func() { r.scan(ctx) })
	}
}

// scanMissed finds the agents TaskRouter or the bridge moved to Missed Call: each notices it
// (once back at the desk, if away) and makes themselves Available again.
func (r *dayRun) scanMissed() {
	now := r.clk.Now().Sub(dayStart)
	for _, w := range r.env.Sandbox.TaskRouter().Workers() {
		i, ok := r.workerIdx[w.Sid]
		if !ok || w.ActivityName != activityMissedCall || r.returning[i] {
			continue
		}
		r.returning[i] = true
		back := now
		if until, away := r.day.Agents[i].awayUntil(now); away {
			back = until
		}
		rr := r.returns[i]
		if rr == nil {
			rr = newRand(r.day.Seed, streamReturns+uint64(i))
			r.returns[i] = rr
		}
		back += uniform(rr, missedCallNotice, missedCallNoticed).Round(time.Second)
		r.at(back, func() {
			r.returning[i] = false
			if w, ok := r.env.Sandbox.TaskRouter().Worker(w.Sid); ok && w.ActivityName == activityMissedCall {
				r.setActivity(i, activityAvailable, false)
			}
		})
	}
}

func finalStatus(status string) bool {
	switch status {
	case "completed", "busy", "failed", "no-answer", "canceled":
		return true
	}
	return false
}

// play runs the day to its end: every caller has hung up (or the drain limit passed).
func (r *dayRun) play(ctx context.Context) error {
	end := dayStart.Add(dayLength + drainLimit)
	err := r.drv.run(ctx, func(next time.Time) bool { return r.finished || next.After(end) })
	if err != nil {
		return fmt.Errorf("strategy %s at %s: %w", r.strat.Key, r.clk.Now().Format("15:04:05"), err)
	}
	return r.problems()
}

// allCallersGone reports whether every caller of the day has hung up.
func (r *dayRun) allCallersGone() bool {
	status := map[string]string{}
	for _, c := range r.env.Sandbox.Voice().Calls() {
		status[c.Sid] = c.Status
	}
	for r.ended < len(r.callSids) && finalStatus(status[r.callSids[r.ended]]) {
		r.ended++
	}
	return r.ended == len(r.callSids)
}
