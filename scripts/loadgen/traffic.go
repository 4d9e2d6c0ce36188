package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"queuebridge/sandbox/twiliosig"
)

const (
	agentNumber  = "+15005550101"
	callerNumber = "+15005550199"
	// waitTwilio bounds how long a flow waits for the bridge to act on Twilio.
	waitTwilio = 10 * time.Second
)

// SIDs are unique per run (a random run prefix), so runs against one database never collide.
var (
	runID  = rand.Uint32()
	sidSeq atomic.Uint64
)

func newSID(prefix string) string {
	return fmt.Sprintf("%s%08x%024x", prefix, runID, sidSeq.Add(1))
}

type sids struct {
	reservation, task, worker, workerName, taskQueue, callerCall string
}

func newSIDs() sids {
	n := sidSeq.Load() % 50
	return sids{reservation: newSID("WR"), task: newSID("WT"), worker: newSID("WK"), workerName: "agent-" + strconv.FormatUint(n, 10),
		taskQueue: "WQ00000000000000000000000000000001", callerCall: newSID("CA")}
}

func (s sids) event() string   { return newSID("EV") }
func (s sids) newCall() string { return newSID("CA") }

// generator sends the traffic and records what it measures.
type generator struct {
	o options
	// public is the URL requests are signed for (the bridges' PUBLIC_BASE_URL); targets are
	// where they are sent, round robin.
	public  string
	targets []string
	next    atomic.Uint64
	fake    *fakeTwilio
	client  *http.Client
	stats   atomic.Pointer[stats]

	open    atomic.Int64 // reservations created and not finished
	created atomic.Int64 // reservation.created answered 200
}

func newGenerator(o options, targets []string, fake *fakeTwilio) *generator {
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: o.conns + 64,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	g := &generator{o: o, fake: fake, client: &http.Client{Transport: transport, Timeout: 10 * time.Second}}
	for _, t := range targets {
		g.targets = append(g.targets, strings.TrimRight(t, "/"))
	}
	g.public = g.targets[0]
	g.stats.Store(newStats())
	return g
}

// signedRequest is a webhook ready to send.
type signedRequest struct {
	target, body, sig string
}

func (g *generator) sign(target string, form url.Values) signedRequest {
	return signedRequest{target: target, body: form.Encode(), sig: twiliosig.Sign(g.o.token, g.public+target, form)}
}

// post signs and sends one webhook and records its latency under name.
func (g *generator) post(ctx context.Context, name, target string, form url.Values, want int) (string, error) {
	return g.send(ctx, name, g.sign(target, form), want)
}

// send sends one signed webhook to the next target and records its latency under name.
func (g *generator) send(ctx context.Context, name string, s signedRequest, want int) (string, error) {
	return g.sendTo(ctx, g.targets[(g.next.Add(1)-1)%uint64(len(g.targets))], name, s, want)
}

// sendTo sends one signed webhook to base and records its latency under name.
func (g *generator) sendTo(ctx context.Context, base, name string, s signedRequest, want int) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+s.target, strings.NewReader(s.body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", s.sig)
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	st := g.stats.Load()
	start := time.Now()
	resp, err := g.client.Do(req)
	if err != nil {
		st.fail(name, err)
		return "", err
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err == nil && resp.StatusCode != want {
		err = fmt.Errorf("%s: status %d, want %d: %s", name, resp.StatusCode, want, strings.TrimSpace(string(out)))
	}
	if err != nil {
		st.fail(name, err)
		return "", err
	}
	st.observe(name, took)
	return string(out), nil
}

// event sends a TaskRouter event callback about r, shaped as TaskRouter sends them.
func (g *generator) event(ctx context.Context, typ string, r sids, extra ...string) error {
	resource := strings.SplitN(typ, ".", 2)[0]
	resourceSID := map[string]string{"reservation": r.reservation, "task": r.task, "worker": r.worker}[resource]
	taskAttrs, _ := json.Marshal(map[string]any{"from": callerNumber, "to": "+15005550100", "call_sid": r.callerCall,
		"direction": "inbound", "caller_country": "US", "department": "sales", "selected_language": "en"})
	workerAttrs, _ := json.Marshal(map[string]any{"contact_uri": agentNumber, "skills": []string{"sales", "support"}, "languages": []string{"en", "es"}})
	now := time.Now()
	f := url.Values{
		"EventType": {typ}, "Sid": {newSID("EV")}, "AccountSid": {accountSID}, "WorkspaceSid": {workspaceSID},
		"WorkspaceName": {"queuebridge"}, "ResourceType": {resource}, "ResourceSid": {resourceSID},
		"EventDescription": {fmt.Sprintf("%s %s for worker %s", typ, resourceSID, r.workerName)},
		"Timestamp":        {strconv.FormatInt(now.Unix(), 10)}, "TimestampMs": {strconv.FormatInt(now.UnixMilli(), 10)},
		"TaskSid": {r.task}, "TaskAge": {"12"}, "TaskPriority": {"0"}, "TaskAssignmentStatus": {"reserved"},
		"TaskQueueSid": {r.taskQueue}, "TaskQueueName": {"sales"}, "TaskChannelUniqueName": {"voice"},
		"WorkflowSid": {workflowSID}, "WorkflowName": {"loadgen"},
		"TaskAttributes": {string(taskAttrs)},
		"WorkerSid":      {r.worker}, "WorkerName": {r.workerName}, "WorkerAttributes": {string(workerAttrs)},
		"WorkerActivityName": {"Available"}, "WorkerActivitySid": {"WA00000000000000000000000000000001"},
	}
	if resource == "reservation" {
		f.Set("ReservationSid", r.reservation)
		f.Set("ReservationStatus", strings.TrimPrefix(typ, "reservation."))
	}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	_, err := g.post(ctx, "events "+typ, "/taskrouter/events", f, http.StatusOK)
	return err
}

func dialQueuePath(r sids) string {
	return "/dial-queue?" + url.Values{"reservation": {r.reservation}, "task": {r.task}}.Encode()
}

func callForm(call, status string) url.Values {
	return url.Values{"CallSid": {call}, "AccountSid": {accountSID}, "CallStatus": {status}, "Direction": {"outbound-api"},
		"From": {callerNumber}, "To": {agentNumber}, "Called": {agentNumber}, "Caller": {callerNumber},
		"ApiVersion": {"2010-04-01"}, "CallerCountry": {"US"}, "CalledCountry": {"US"}}
}

// answerRequest is the agent leg's TwiML request after AMD.
func (g *generator) answerRequest(r sids, call, answeredBy string) signedRequest {
	f := callForm(call, "in-progress")
	f.Set("AnsweredBy", answeredBy)
	f.Set("MachineDetectionDuration", "1820")
	return g.sign(dialQueuePath(r), f)
}

// answer sends the agent leg's TwiML request and checks the TwiML has the verb.
func (g *generator) answer(ctx context.Context, s signedRequest, wantVerb string) error {
	return g.answerAs(ctx, "dial-queue answer", s, wantVerb)
}

// answerAs is answer, its latency recorded under name.
func (g *generator) answerAs(ctx context.Context, name string, s signedRequest, wantVerb string) error {
	body, err := g.send(ctx, name, s, http.StatusOK)
	if err == nil && !strings.Contains(body, "<"+wantVerb) {
		err = fmt.Errorf("%s: TwiML without <%s>: %s", name, wantVerb, body)
		g.stats.Load().fail(name+" (TwiML)", err)
	}
	return err
}

func (g *generator) status(ctx context.Context, r sids, call, status string) error {
	f := callForm(call, status)
	f.Set("SequenceNumber", "0")
	f.Set("Timestamp", time.Now().UTC().Format(time.RFC1123Z))
	_, err := g.post(ctx, "status-callback", "/status-callback?reservation="+r.reservation+"&task="+r.task, f, http.StatusNoContent)
	return err
}

func await[T any](ctx context.Context, c <-chan T, what string) (T, error) {
	var zero T
	t := time.NewTimer(waitTwilio)
	defer t.Stop()
	select {
	case v := <-c:
		return v, nil
	case <-t.C:
		return zero, fmt.Errorf("the bridge did not %s within %s", what, waitTwilio)
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// createReservation sends reservation.created with the fake watching for its call.
func (g *generator) createReservation(ctx context.Context) (sids, *watch, error) {
	r := newSIDs()
	w := g.fake.watch(r.reservation, r.task, time.Now())
	if err := g.event(ctx, "reservation.created", r); err != nil {
		g.fake.forget(r.reservation, r.task)
		return r, nil, err
	}
	g.created.Add(1)
	g.open.Add(1)
	return r, w, nil
}

// rejected waits for the bridge to reject r, then delivers TaskRouter's reservation.rejected. It
// reports whether both happened (a failure is recorded).
func (g *generator) rejected(ctx context.Context, st *stats, w *watch, r sids) bool {
	if _, err := await(ctx, w.rejected, "reject the reservation"); err != nil {
		st.fail("flow", err)
		return false
	}
	return g.event(ctx, "reservation.rejected", r) == nil
}

// flow is one whole reservation (see the package comment for the mix).
func (g *generator) flow(ctx context.Context, i int) {
	start := time.Now()
	r, w, err := g.createReservation(ctx)
	if err != nil {
		return
	}
	defer g.fake.forget(r.reservation, r.task)
	st := g.stats.Load()
	call, err := await(ctx, w.call, "place the agent leg")
	if err != nil {
		st.fail("flow", err)
		return
	}
	fail := func(err error) bool { return err != nil } // post recorded it
	if fail(g.status(ctx, r, call, "initiated")) || fail(g.status(ctx, r, call, "ringing")) {
		return
	}
	switch i % 10 {
	case 3: // a machine
		if fail(g.answer(ctx, g.answerRequest(r, call, "machine_start"), "Hangup")) || fail(g.status(ctx, r, call, "completed")) {
			return
		}
		if !g.rejected(ctx, st, w, r) {
			return
		}
	case 7: // nobody picks up
		if fail(g.status(ctx, r, call, "no-answer")) {
			return
		}
		if !g.rejected(ctx, st, w, r) {
			return
		}
	default: // a human: bridged, talk, hang up, wrap up
		if fail(g.answer(ctx, g.answerRequest(r, call, "human"), "Dial")) || fail(g.status(ctx, r, call, "in-progress")) ||
			fail(g.event(ctx, "reservation.accepted", r)) || fail(g.event(ctx, "worker.activity.update", r)) {
			return
		}
		f := callForm(call, "completed")
		f.Set("DialCallStatus", "completed")
		f.Set("DialCallDuration", "95")
		f.Set("QueueResult", "bridged")
		if _, err := g.post(ctx, "dial-queue dial-action", dialQueuePath(r), f, http.StatusOK); err != nil {
			return
		}
		if fail(g.status(ctx, r, call, "completed")) || fail(g.event(ctx, "reservation.wrapup", r)) {
			return
		}
		if _, err := await(ctx, w.completed, "complete the task"); err != nil {
			st.fail("flow", err)
			return
		}
		if fail(g.event(ctx, "reservation.completed", r)) || fail(g.event(ctx, "task.completed", r)) {
			return
		}
	}
	g.open.Add(-1)
	st.observe("flow (whole reservation)", time.Since(start))
}

// created sends reservation.created alone; the fake records when its call arrives.
func (g *generator) createdOnly(ctx context.Context, _ int) {
	_, _, _ = g.createReservation(ctx)
}

// ringingPool makes n reservations whose agent legs ring, for the dial-queue scenario.
func (g *generator) ringingPool(ctx context.Context, n int) ([]sids, []string, error) {
	rs, calls := make([]sids, n), make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	for range min(g.o.conns, 64) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || firstErr.Load() != nil || ctx.Err() != nil {
					return
				}
				r, w, err := g.createReservation(ctx)
				if err == nil {
					calls[i], err = await(ctx, w.call, "place the agent leg")
					g.fake.forget(r.reservation, r.task)
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				rs[i] = r
			}
		}()
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return nil, nil, *p
	}
	return rs, calls, ctx.Err()
}

// drive runs unit(i) for i = 0, 1, … at the rate, or back to back on -c connections, until
// the count or the duration is reached, then waits for the units under way. It returns how
// many units started and how long sending took.
func (g *generator) drive(ctx context.Context, limit int, unit func(context.Context, int)) (int, time.Duration) {
	start := time.Now()
	deadline := start.Add(g.o.duration)
	var started atomic.Int64
	var wg sync.WaitGroup
	if g.o.rate == 0 {
		for range g.o.conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil && time.Now().Before(deadline) {
					i := int(started.Add(1) - 1)
					if i >= limit {
						started.Add(-1)
						return
					}
					unit(ctx, i)
				}
			}()
		}
		wg.Wait()
		return int(started.Load()), time.Since(start)
	}
	// At a rate: unit i starts at start + i/rate whether or not earlier ones have finished (no
	// coordinated omission), with at most -c (at least 64) under way.
	slots := make(chan struct{}, max(g.o.conns, 64))
	interval := time.Duration(float64(time.Second) / g.o.rate)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; i < limit; i++ {
		at := start.Add(time.Duration(i) * interval)
		if !at.Before(deadline) {
			break
		}
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		started.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			unit(ctx, i)
		}()
	}
	sent := time.Since(start)
	wg.Wait()
	return int(started.Load()), sent
}

func (g *generator) run(ctx context.Context) (Report, error) {
	limit := g.o.count
	if limit == 0 {
		limit = maxCount
	}
	rep := Report{Scenario: g.o.scenario, Target: strings.Join(g.targets, ","), Rate: g.o.rate, Connections: g.o.conns,
		Preloaded: g.o.preload, GoVersion: runtime.Version()}
	var unit func(context.Context, int)
	switch g.o.scenario {
	case "flow":
		unit = g.flow
	case "created":
		unit = g.createdOnly
	case "dial-queue", "dial-queue-retry":
		n := g.o.count
		if n == 0 && g.o.rate > 0 {
			n = int(g.o.rate*g.o.duration.Seconds()) + 1
		}
		if n == 0 {
			n = 50_000
		}
		n = min(n, maxCount)
		rs, calls, err := g.ringingPool(ctx, n)
		if err != nil {
			return rep, fmt.Errorf("making %d ringing reservations: %w", n, err)
		}
		// Signed before the clock starts: the measured phase spends its CPU on the bridge.
		answers := make([]signedRequest, n)
		for i := range answers {
			answers[i] = g.answerRequest(rs[i], calls[i], "human")
		}
		limit = n
		unit = func(ctx context.Context, i int) { _ = g.answer(ctx, answers[i], "Dial") }
		if g.o.scenario == "dial-queue-retry" {
			bare, err := g.retryPhase(ctx, answers)
			if err != nil {
				return rep, err
			}
			rep.Bare = &bare
			unit = func(ctx context.Context, i int) { _ = g.answerAs(ctx, "dial-queue retried answer", answers[i], "Dial") }
		}
	}
	st := newStats()
	g.stats.Store(st)
	g.fake.stats.Store(st)
	createdBefore := g.created.Load()
	if g.o.cpuProfile != "" {
		f, err := os.Create(g.o.cpuProfile)
		if err != nil {
			return rep, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return rep, err
		}
	}
	units, elapsed := g.drive(ctx, limit, unit)
	if g.o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if g.o.scenario == "created" {
		// Let the dispatcher place the calls of the reservations created last (bounded).
		want := g.created.Load() - createdBefore
		for end := time.Now().Add(30 * time.Second); time.Now().Before(end) && ctx.Err() == nil; time.Sleep(10 * time.Millisecond) {
			if int64(len(st.samplesOf(createdToCall))) >= want {
				break
			}
		}
	}
	g.fake.stats.Store(nil)
	rep.Units, rep.Seconds = units, elapsed.Seconds()
	rep.Lines, rep.CreatedCalls, rep.Errors, rep.ErrorSamples = st.report(elapsed)
	rep.InFlight = int(g.open.Load())
	rep.RSSMiB, rep.PeakRSSMiB = rss()
	return rep, ctx.Err()
}

func (s *stats) samplesOf(name string) []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if x, ok := s.series[name]; ok {
		return x.samples
	}
	return nil
}

// rss reads this process's resident set size and its peak (VmRSS, VmHWM), in MiB.
func rss() (cur, peak float64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			cur = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return cur, peak
}
