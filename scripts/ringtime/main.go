// Command ringtime measures, in the sandbox, how long a caller waits from entering the queue to
// a human agent on the line, with the queue ringing one agent at a time (max_reserved_workers 1)
// and three at once (3), each with and without resting an agent who missed a call
// (REST_AFTER_MISSES=1 for a 60 s cool-down). Every run takes the same callers, one after
// another, to the same three agents, whose phones are drawn afresh for each caller from
// realistic behaviours: most pick up after a few seconds, some ring out, some go to voicemail,
// a few are busy. Times are the sandbox's clock (Twilio's time, not the machine's).
//
//	go run ./scripts/ringtime [-callers 40] [-seed 1] [-speed 100]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"queuebridge/internal/app"
	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/voice"
	"queuebridge/scripts/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ringtime", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := Options{}
	fs.IntVar(&o.Callers, "callers", 40, "callers per run, one after another")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the agents' behaviours (the same for both runs)")
	fs.Float64Var(&o.Speed, "speed", 100, "the sandbox clock's speed (1 to 1000 times real time)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.Callers < 1 || o.Speed < 1 || o.Speed > 1000 {
		fmt.Fprintln(stderr, "ringtime: -callers must be at least 1 and -speed from 1 to 1000")
		return 2
	}
	fmt.Fprintf(stdout, "ringtime: %d callers, seed %d, sandbox clock %gx; agents: %s\n", o.Callers, o.Seed, o.Speed, Mix)
	var results []Result
	for _, setup := range []Setup{{1, false}, {3, false}, {1, true}, {3, true}} {
		r, err := Measure(ctx, o, setup)
		if err != nil {
			fmt.Fprintln(stderr, "ringtime:", err)
			return 1
		}
		results = append(results, r)
	}
	Print(stdout, results)
	return 0
}

// Options say what to measure.
type Options struct {
	Callers int
	Seed    uint64
	Speed   float64
}

// Setup is one way of running the queue.
type Setup struct {
	// AtOnce is the queue's max_reserved_workers.
	AtOnce int
	// Rest rests an agent who missed a call for RestFor (REST_AFTER_MISSES=1).
	Rest bool
}

// RestFor is the cool-down of a rested agent, on the sandbox's clock.
const RestFor = time.Minute

// Result is one run: the waits of the callers who reached a human, and how many did not.
type Result struct {
	Setup
	Waits   []time.Duration
	NoHuman int
}

// Mix describes the agents' behaviours, drawn independently per agent and caller.
const Mix = "55% pick up after 4-12 s, 20% ring out (20 s), 15% voicemail after 10-15 s, 10% busy"

// persona draws one agent's behaviour for one caller.
func persona(r *rand.Rand) voice.Persona {
	between := func(lo, hi int) time.Duration { return time.Duration(lo+r.IntN(hi-lo+1)) * time.Second }
	switch p := r.Float64(); {
	case p < 0.55:
		return voice.Human(between(4, 12), 15*time.Second)
	case p < 0.75:
		return voice.NoAnswer()
	case p < 0.90:
		return voice.Voicemail(between(10, 15), between(5, 9), true)
	default:
		return voice.Busy()
	}
}

// agents are the spec's three workers.
var agents = []string{"+15005550101", "+15005550102", "+15005550103"}

const specTemplate = `
workspace: {name: ringtime, timeout_activity: Missed Call}
activities:
  - {name: Available, available: true}
  - {name: Offline}
  - {name: Missed Call}
  - {name: Resting}
queues:
  - {name: Everyone, target_workers: 1==1, max_reserved_workers: %d}
workers:
  - {name: Alice, contact_uri: "+15005550101", activity: Available}
  - {name: Bob, contact_uri: "+15005550102", activity: Available}
  - {name: Carol, contact_uri: "+15005550103", activity: Available}
workflow:
  name: Inbound
  filters:
    - {name: All, expression: 1==1, targets: [{queue: Everyone, timeout: 300}]}
  default_queue: Everyone
flow:
  name: ringtime IVR
  greeting: Hello.
  enqueue: {timeout: 3600}
  voicemail: {prompt: Please leave a message., max_length: 60}
numbers:
  - phone_number: "+15005550006"
`

// Measure runs the callers against a queue set up as given.
func Measure(ctx context.Context, o Options, setup Setup) (Result, error) {
	dir, err := os.MkdirTemp("", "ringtime")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	vars := map[string]string{"DATABASE_URL": filepath.Join(dir, "qb.db"), "PORT": "0", "RING_TIMEOUT": "20"}
	if setup.Rest {
		// The bridge's clock is the machine's: the cool-down is scaled to the sandbox's.
		vars["REST_AFTER_MISSES"], vars["REST_ACTIVITY"] = "1", "Resting"
		vars["REST_COOLDOWN"] = time.Duration(float64(RestFor) / o.Speed).String()
	}
	atOnce := setup.AtOnce
	cfg, err := app.LoadConfig(func(k string) string { return vars[k] })
	if err != nil {
		return Result{}, err
	}
	env, err := app.StartSandbox(ctx, app.SandboxSetup{
		Config: cfg, Spec: fmt.Appendf(nil, specTemplate, atOnce), Clock: clock.NewScaled(o.Speed),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Listen: "127.0.0.1:0",
	})
	if err != nil {
		return Result{}, err
	}
	defer env.Close()
	res := Result{Setup: setup}
	for i := range o.Callers {
		r := rand.New(rand.NewPCG(o.Seed, uint64(i)))
		for _, n := range agents {
			env.Sandbox.SetPersona(n, persona(r))
		}
		wait, human, err := oneCaller(ctx, env, i)
		if err != nil {
			return res, fmt.Errorf("%+v, caller %d: %w", setup, i, err)
		}
		if human {
			res.Waits = append(res.Waits, wait)
		} else {
			res.NoHuman++
		}
	}
	return res, nil
}

// oneCaller places a call and returns how long the caller waited in the queue for a human.
func oneCaller(ctx context.Context, env *app.SandboxEnv, i int) (time.Duration, bool, error) {
	from := fmt.Sprintf("+1555030%04d", i)
	env.Sandbox.SetPersona(from, voice.Human(0, 0))
	sid, err := env.Sandbox.PlaceCall(ctx, from, demo.Number)
	if err != nil {
		return 0, false, err
	}
	info, err := demo.WaitCallEnded(ctx, env, sid, 2*time.Minute)
	if err != nil {
		return 0, false, err
	}
	if err := demo.WaitSettled(ctx, env, info.TaskSid, time.Minute); err != nil {
		return 0, false, err
	}
	var enqueued, bridged time.Time
	for _, e := range env.Sandbox.Timeline(sid) {
		switch {
		case e.Sid != sid:
		case e.What == "enqueued" && enqueued.IsZero():
			enqueued = e.Time
		case e.What == "bridged" && bridged.IsZero():
			bridged = e.Time
		}
	}
	if enqueued.IsZero() || bridged.IsZero() {
		return 0, false, nil
	}
	return bridged.Sub(enqueued), true, nil
}

// Print writes the results as a table.
func Print(w io.Writer, results []Result) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "agents rung\tan agent who misses\tcallers reaching a human\tmedian wait\tp90\tmean\tlongest")
	for _, r := range results {
		ws := slices.Clone(r.Waits)
		slices.Sort(ws)
		rung, rest := "one at a time", "is rung again"
		if r.AtOnce > 1 {
			rung = fmt.Sprintf("%d at once", r.AtOnce)
		}
		if r.Rest {
			rest = "rests " + RestFor.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d of %d\t%s\t%s\t%s\t%s\n", rung, rest,
			len(ws), len(ws)+r.NoHuman, secs(quantile(ws, 0.5)), secs(quantile(ws, 0.9)), secs(mean(ws)), secs(quantile(ws, 1)))
	}
	tw.Flush()
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)) + 0.5)
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

func mean(ws []time.Duration) time.Duration {
	if len(ws) == 0 {
		return 0
	}
	var sum time.Duration
	for _, w := range ws {
		sum += w
	}
	return sum / time.Duration(len(ws))
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }
