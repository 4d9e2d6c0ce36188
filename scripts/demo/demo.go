// Package demo is the sandbox demo `go run ./cmd/bridge` shows with no account: whole calls
// through the example spec's IVR to agents with scripted personas, each call's timeline printed
// as it happens, then a summary of what became of every caller.
package demo

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"queuebridge/internal/app"
	"queuebridge/sandbox"
	"queuebridge/sandbox/voice"
	"queuebridge/taskrouter"
	"queuebridge/taskrouter/provision"
)

// Number is the sandbox number the example spec points at the IVR.
const Number = "+15005550006"

// scenario is one demo call: how the agents and the caller behave, and what must come of it.
type scenario struct {
	title  string
	caller voice.Persona
	// first is the persona of the agent TaskRouter reserves first; the other sales agent is a
	// human unless both is set.
	first voice.Persona
	both  bool
	// want is the caller's expected fate: "bridged to the first agent", "bridged to the second
	// agent" or "hung up".
	want string
}

// salesAgents are the agents a caller who presses 1 can reach (the example spec's Sales queue).
var salesAgents = []string{"Alice", "Carol"}

// demoScenarios are the calls the sandbox demo places, one after another. Every caller presses 1
// (sales: Alice and Carol).
func demoScenarios() []scenario {
	caller := voice.Human(0, 20*time.Second).WithDigits("1")
	human := voice.Human(3*time.Second, 15*time.Second)
	return []scenario{
		{title: "agent answers in person", caller: caller, first: human, want: "first"},
		{title: "voicemail picks up, the next agent answers", caller: caller,
			first: voice.Voicemail(4*time.Second, 8*time.Second, true), want: "second"},
		{title: "agent does not answer, the next agent does", caller: caller, first: voice.NoAnswer(), want: "second"},
		{title: "agent is busy, the next agent answers", caller: caller, first: voice.Busy(), want: "second"},
		{title: "caller gives up while the agents ring", caller: caller.WithPatience(25 * time.Second),
			first: voice.NoAnswer(), both: true, want: "hung up"},
		{title: "caller hears their place, presses * and leaves a voicemail", caller: caller.WithQueueDigits("*", 20*time.Second).
			WithMessage(6 * time.Second).WithTranscript("Please call me back about my order."),
			first: voice.NoAnswer(), both: true, want: "left a voicemail"},
	}
}

// routingOrder predicts whom TaskRouter reserves first: the agent idle longest, as the sandbox
// (and TaskRouter) routes. lastDone counts when each agent's last reservation ended.
func routingOrder(lastDone map[string]int) []string {
	order := append([]string(nil), salesAgents...)
	sort.SliceStable(order, func(i, j int) bool { return lastDone[order[i]] < lastDone[order[j]] })
	return order
}

// demoResult is what became of one scenario's call.
type demoResult struct {
	scenario scenario
	want     string
	// reserved are the agents reserved for the task, in order.
	reserved []string
	caller   string
	callSid  string
	fate     string
	legs     []string
	took     time.Duration
	ok       bool
}

// Run places the scenarios' calls one after another, printing each call's timeline as it
// happens, then a summary. It reports whether every call ended as its personas dictate.
func Run(ctx context.Context, env *app.SandboxEnv, agents map[string]string, out io.Writer) (bool, error) {
	p := newTimelinePrinter(env, agents, out)
	entries := make(chan sandbox.Entry, 4096)
	env.Sandbox.Subscribe(entries)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(ctx, entries)
	}()
	var results []demoResult
	lastDone, clock := map[string]int{}, 0
	for i, sc := range demoScenarios() {
		if ctx.Err() != nil {
			break
		}
		r, err := runScenario(ctx, env, agents, p, i+1, sc, routingOrder(lastDone))
		if err != nil {
			return false, err
		}
		for _, name := range r.reserved {
			clock++
			lastDone[name] = clock
		}
		results = append(results, r)
	}
	p.stop()
	<-done
	return printSummary(out, results), nil
}

func runScenario(ctx context.Context, env *app.SandboxEnv, agents map[string]string, p *timelinePrinter, n int, sc scenario, order []string) (demoResult, error) {
	second := sc.first
	if !sc.both {
		second = voice.Human(3*time.Second, 15*time.Second)
	}
	env.Sandbox.SetPersona(agents[order[0]], sc.first)
	env.Sandbox.SetPersona(agents[order[1]], second)
	want := map[string]string{"first": "bridged to " + order[0], "second": "bridged to " + order[1]}[sc.want]
	if want == "" {
		want = sc.want
	}
	from := fmt.Sprintf("+1555010%04d", n)
	env.Sandbox.SetPersona(from, sc.caller)
	p.begin(n, sc.title, from)
	start := time.Now()
	sid, err := env.Sandbox.PlaceCall(ctx, from, Number)
	if err != nil {
		return demoResult{}, fmt.Errorf("placing demo call %d: %w", n, err)
	}
	info, err := WaitCallEnded(ctx, env, sid, 2*time.Minute)
	if err != nil {
		return demoResult{}, fmt.Errorf("demo call %d: %w", n, err)
	}
	if err := WaitSettled(ctx, env, info.TaskSid, 30*time.Second); err != nil {
		return demoResult{}, fmt.Errorf("demo call %d: %w", n, err)
	}
	p.flush()
	r := demoResult{scenario: sc, want: want, caller: from, callSid: sid, took: time.Since(start)}
	r.fate = callerFate(env, agents, info)
	if info.QueueResult == "leave" && voicemailStored(ctx, env, sid) {
		r.fate = "left a voicemail"
	}
	r.legs, r.reserved = agentLegs(ctx, env, agents, info.TaskSid)
	r.ok = strings.HasPrefix(r.fate, want)
	return r, nil
}

// voicemailStored waits a little for the call's voicemail to reach the bridge's store (its
// recording callback trails the call's end).
func voicemailStored(ctx context.Context, env *app.SandboxEnv, callSid string) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		list, err := env.App.Store.ListVoicemails(ctx, 50)
		if err != nil {
			return false
		}
		for _, v := range list {
			if v.CallSID == callSid {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// WaitCallEnded polls the sandbox until the call is over.
func WaitCallEnded(ctx context.Context, env *app.SandboxEnv, sid string, limit time.Duration) (voice.CallInfo, error) {
	deadline := time.Now().Add(limit)
	for {
		info, ok := env.Sandbox.Voice().Call(sid)
		if ok && isFinal(info.Status) {
			return info, nil
		}
		if time.Now().After(deadline) {
			return info, fmt.Errorf("call %s still %s after %v", sid, info.Status, limit)
		}
		select {
		case <-ctx.Done():
			return info, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WaitSettled waits until everything the call set in motion is over: the task is completed or
// canceled at TaskRouter, the bridge holds none of its reservations open, every agent leg has
// ended, and the bridge's outbox is empty. Events and status callbacks trail the caller's hang-up.
func WaitSettled(ctx context.Context, env *app.SandboxEnv, taskSid string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		settled, why := isSettled(ctx, env, taskSid)
		if settled {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("task %s not settled after %v: %s", taskSid, limit, why)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func isSettled(ctx context.Context, env *app.SandboxEnv, taskSid string) (bool, string) {
	if taskSid != "" {
		task, ok := env.Sandbox.TaskRouter().Task(taskSid)
		if ok && task.AssignmentStatus != "completed" && task.AssignmentStatus != "canceled" {
			return false, "task " + task.AssignmentStatus
		}
		list, err := env.App.Store.TaskReservations(ctx, taskSid)
		if err != nil {
			return false, err.Error()
		}
		for _, r := range list {
			if r.State.Open() || r.State == taskrouter.StateAccepted || r.State == taskrouter.StateWrapping {
				return false, "reservation " + string(r.State)
			}
			if leg, ok := env.Sandbox.Voice().Call(r.CallSID); ok && !isFinal(leg.Status) {
				return false, "agent leg " + leg.Status
			}
		}
	}
	n, err := env.App.Store.PendingJobs(ctx)
	if err != nil || n > 0 {
		return false, fmt.Sprintf("%d jobs queued", n)
	}
	return true, ""
}

func isFinal(status string) bool {
	switch status {
	case "completed", "busy", "failed", "no-answer", "canceled":
		return true
	}
	return false
}

// callerFate says what happened to the caller: bridged to whom, or hung up.
func callerFate(env *app.SandboxEnv, agents map[string]string, caller voice.CallInfo) string {
	if caller.BridgedWith != "" {
		if leg, ok := env.Sandbox.Voice().Call(caller.BridgedWith); ok {
			return "bridged to " + NameOf(agents, leg.To)
		}
		return "bridged"
	}
	if caller.QueueResult != "" && caller.QueueResult != "bridged" {
		return "hung up (" + caller.QueueResult + ")"
	}
	return "hung up"
}

// agentLegs describes every agent leg the bridge placed for the task, from its store, and who
// was reserved, in order.
func agentLegs(ctx context.Context, env *app.SandboxEnv, agents map[string]string, taskSid string) (legs, reserved []string) {
	if taskSid == "" {
		return nil, nil
	}
	list, err := env.App.Store.TaskReservations(ctx, taskSid)
	if err != nil {
		return []string{"(" + err.Error() + ")"}, nil
	}
	for _, r := range list {
		what := string(r.State)
		switch {
		case r.State == taskrouter.StateCompleted || r.State == taskrouter.StateAccepted || r.State == taskrouter.StateWrapping:
			what = "human, bridged"
		case r.Outcome.Kind != "":
			what = r.Outcome.String()
		}
		legs = append(legs, NameOf(agents, r.ContactURI)+": "+what)
		reserved = append(reserved, NameOf(agents, r.ContactURI))
	}
	return legs, reserved
}

// NameOf is the name of the agent whose number this is, or the number.
func NameOf(agents map[string]string, number string) string {
	for name, n := range agents {
		if n == number {
			return name
		}
	}
	return number
}

func printSummary(out io.Writer, results []demoResult) bool {
	fmt.Fprintln(out, "\nSummary")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tscenario\tcaller\tagent legs\texpected\tok")
	all := true
	for i, r := range results {
		mark := "yes"
		if !r.ok {
			mark, all = "NO", false
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", i+1, r.scenario.title, r.fate, strings.Join(r.legs, "; "), r.want, mark)
	}
	tw.Flush()
	return all
}

// timelinePrinter turns sandbox timeline entries into lines a person can follow.
type timelinePrinter struct {
	env    *app.SandboxEnv
	agents map[string]string
	out    io.Writer

	mu      sync.Mutex
	start   time.Time
	callers map[string]bool
	pending []sandbox.Entry
	stopped chan struct{}
}

func newTimelinePrinter(env *app.SandboxEnv, agents map[string]string, out io.Writer) *timelinePrinter {
	return &timelinePrinter{env: env, agents: agents, out: out, callers: map[string]bool{}, stopped: make(chan struct{})}
}

func (p *timelinePrinter) begin(n int, title, from string) {
	p.flush()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start = time.Time{}
	p.callers[from] = true
	fmt.Fprintf(p.out, "\nCall %d: %s\n  (times in sandbox seconds; caller %s dials %s, the Studio IVR greets them and offers a menu)\n", n, title, from, Number)
}

func (p *timelinePrinter) run(ctx context.Context, entries <-chan sandbox.Entry) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.stopped:
			p.flush()
			return
		case e := <-entries:
			p.mu.Lock()
			p.pending = append(p.pending, e)
			p.mu.Unlock()
		case <-tick.C:
			p.flush()
		}
	}
}

func (p *timelinePrinter) stop() { close(p.stopped) }

// flush prints the entries received so far, in time order.
func (p *timelinePrinter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	sort.SliceStable(p.pending, func(i, j int) bool { return p.pending[i].Time.Before(p.pending[j].Time) })
	for _, e := range p.pending {
		if p.start.IsZero() {
			p.start = e.Time
		}
		who, what, ok := p.describe(e)
		if !ok {
			continue
		}
		fmt.Fprintf(p.out, "  %6.1fs  %-7s %s\n", e.Time.Sub(p.start).Seconds(), who, what)
	}
	p.pending = p.pending[:0]
}

// describe picks the entries worth a line and words them; the sandbox's own clock times them.
func (p *timelinePrinter) describe(e sandbox.Entry) (who, what string, ok bool) {
	switch e.Kind {
	case "call":
		info, found := p.env.Sandbox.Voice().Call(e.Sid)
		if !found {
			return "", "", false
		}
		if p.callers[info.From] && info.Direction == "inbound" {
			who = "caller"
			switch {
			case e.What == "enqueued":
				return who, "waits in the queue (task " + short(info.TaskSid) + ")", true
			case e.What == "bridged":
				return who, "is connected to an agent", true
			case (e.What == "twiml: Say" || e.What == "wait-url: Say") && strings.HasPrefix(e.Detail["text"], "You are"):
				return who, "hears: " + e.Detail["text"], true
			case e.What == "gather: digits" && e.Detail["digits"] == "*":
				return who, "pressed * to leave a message", true
			case e.What == "record: message":
				return who, "leaves a " + e.Detail["duration_s"] + " s voicemail (stored by queuebridge, listed at GET /voicemails)", true
			case e.What == "gather: digits":
				return who, "pressed " + e.Detail["digits"], true
			case e.What == "caller hung up in queue":
				return who, "gives up and hangs up while waiting", true
			case strings.HasPrefix(e.What, "queue result: "):
				return who, "leaves the queue: " + strings.TrimPrefix(e.What, "queue result: "), true
			case e.What == "status: completed":
				return who, "call ended", true
			}
			return "", "", false
		}
		who = NameOf(p.agents, info.To)
		switch {
		case e.What == "status: ringing":
			return who, "phone rings (" + info.To + ")", true
		case e.What == "status: in-progress":
			return who, "picks up; answering machine detection listens", true
		case strings.HasPrefix(e.What, "amd: "):
			return who, "AMD verdict: " + strings.TrimPrefix(e.What, "amd: "), true
		case e.What == "bridged":
			return who, "talks with the caller", true
		case e.What == "status: no-answer", e.What == "status: busy", e.What == "status: failed", e.What == "status: canceled":
			return who, "leg ends: " + strings.TrimPrefix(e.What, "status: "), true
		case e.What == "status: completed":
			return who, "leg ends", true
		}
	case "event":
		worker := e.Detail["worker"]
		name := worker
		for n, sid := range p.env.Outputs.Workers {
			if sid == worker {
				name = n
			}
		}
		switch e.What {
		case "reservation.created":
			return name, "is reserved for the task: queuebridge calls them", true
		case "reservation.rejected":
			return name, "reservation rejected: TaskRouter tries the next agent", true
		case "reservation.accepted":
			return name, "reservation accepted (the caller is dequeued to them)", true
		case "reservation.canceled", "reservation.timeout", "reservation.rescinded":
			return name, strings.TrimPrefix(e.What, "reservation.") + ": queuebridge ends their leg", true
		case "task.canceled":
			return "task", "canceled", true
		case "task.completed":
			return "task", "completed after wrap-up", true
		}
	}
	return "", "", false
}

func short(sid string) string {
	if len(sid) > 8 {
		return sid[:2] + "…" + sid[len(sid)-4:]
	}
	return sid
}

// AgentNumbers maps a spec's workers to their numbers.
func AgentNumbers(spec *provision.Spec) map[string]string {
	m := map[string]string{}
	for _, w := range spec.Workers {
		m[w.Name] = w.ContactURI
	}
	return m
}

// Fates is how a batch of callers ended: the fates the product allows (bridged to a human, or a
// voicemail left), and a line for each caller that ended any other way (bridged to a machine,
// neither bridged nor in voicemail). Tests report Problems as errors.
type Fates struct {
	Bridged, Voicemail int
	Problems           []string
}

// WaitFates waits (each up to limit) for every caller's call to end and sorts them.
func WaitFates(ctx context.Context, env *app.SandboxEnv, sids []string, limit time.Duration) (Fates, error) {
	var f Fates
	for _, sid := range sids {
		info, err := WaitCallEnded(ctx, env, sid, limit)
		if err != nil {
			return f, err
		}
		switch {
		case info.BridgedWith != "":
			f.Bridged++
			if leg, _ := env.Sandbox.Voice().Call(info.BridgedWith); leg.AnsweredBy != "human" {
				f.Problems = append(f.Problems, fmt.Sprintf("caller %s bridged to a leg AMD called %q", sid, leg.AnsweredBy))
			}
		case info.QueueResult == "leave":
			f.Voicemail++
		default:
			f.Problems = append(f.Problems, fmt.Sprintf("caller %s ended neither bridged nor in voicemail: queue result %q", sid, info.QueueResult))
		}
	}
	return f, nil
}
