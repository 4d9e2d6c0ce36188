// Command simday runs a simulated day of a call centre through the sandbox and the real bridge,
// once per strategy of ringing agents, on the same seed, and reports what each did for callers
// and agents: callers bridged to a person, connected to an agent's voicemail, sent to the
// IVR's voicemail, abandoned; time to a human; agent time on calls that never connected; legs
// placed. The day runs on a manual clock moved by a discrete-event driver (driver.go), so the
// same seed gives the same numbers on any machine, in well under two minutes.
//
//	go run ./scripts/simday                       # 2,000 callers, 20 agents, every strategy
//	go run ./scripts/simday -callers 200 -strategy no-amd,default -out /tmp/day
//
// It writes results.json, results.md and time-to-human.svg to -out. docs/SIMDAY.md holds the
// reference run, the model and its sources.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "simday:", err)
		os.Exit(2)
	}
}

// options are the command line.
type options struct {
	seed           uint64
	callers        int
	agents         int
	speed          float64
	strategy       string
	out            string
	amd            amdErrors
	logLevel       slog.Level
	cpuProfile     string
	strategiesUsed []strategy
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("simday", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Uint64Var(&o.seed, "seed", 1, "random seed: the same seed gives the same day and the same numbers")
	fs.IntVar(&o.callers, "callers", 2000, "callers in the day (1 to 100000)")
	fs.IntVar(&o.agents, "agents", 20, "agents (1 to 9999)")
	fs.Float64Var(&o.speed, "speed", 0, "at most this many times real time, to watch a day (0: as fast as possible; the numbers do not change)")
	fs.StringVar(&o.strategy, "strategy", "all", "all, or strategies separated by commas: "+strategyKeys())
	fs.StringVar(&o.out, "out", "simday-out", "directory for results.json, results.md and time-to-human.svg")
	fs.Float64Var(&o.amd.HumanAsMachine, "amd-human-error", 0.04, "probability that AMD takes a person for a machine (a long greeting)")
	fs.Float64Var(&o.amd.MachineAsHuman, "amd-machine-error", 0.08, "probability that AMD takes a voicemail box for a person (a short greeting)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	fs.TextVar(&o.logLevel, "log-level", slog.LevelError, "the bridge's and the sandbox's log level (debug, info, warn, error)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case o.callers < 1 || o.callers > 100000:
		return o, fmt.Errorf("-callers %d: want 1 to 100000", o.callers)
	case o.agents < 1 || o.agents > 9999:
		return o, fmt.Errorf("-agents %d: want 1 to 9999", o.agents)
	case o.speed < 0:
		return o, fmt.Errorf("-speed %v: want 0 or more", o.speed)
	case o.amd.HumanAsMachine < 0 || o.amd.HumanAsMachine > 1:
		return o, fmt.Errorf("-amd-human-error %v: want a probability from 0 to 1", o.amd.HumanAsMachine)
	case o.amd.MachineAsHuman < 0 || o.amd.MachineAsHuman > 1:
		return o, fmt.Errorf("-amd-machine-error %v: want a probability from 0 to 1", o.amd.MachineAsHuman)
	case o.out == "":
		return o, errors.New("-out: want a directory")
	}
	var err error
	o.strategiesUsed, err = selectStrategies(o.strategy)
	return o, err
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// The run allocates briskly and holds little: collect garbage less often.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := simulate(ctx, o, stdout)
	if err != nil {
		return err
	}
	if err := writeReport(o.out, rep); err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	if err := writeMarkdown(stdout, rep); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nwritten to %s: results.json, results.md, time-to-human.svg\n", o.out)
	return nil
}

// simulate runs the day once per strategy and gathers the report.
func simulate(ctx context.Context, o options, progress io.Writer) (Report, error) {
	d := newDay(o.seed, o.callers, o.agents, o.amd)
	rep := newReport(o, d)
	dbDir, err := os.MkdirTemp(memDir(), "simday-")
	if err != nil {
		return rep, fmt.Errorf("database directory: %w", err)
	}
	defer os.RemoveAll(dbDir)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: o.logLevel}))
	for _, s := range o.strategiesUsed {
		if s.Missing != "" {
			rep.Results = append(rep.Results, Result{Key: s.Key, Strategy: s.Name, Missing: s.Missing,
				Env: s.env(), MaxReservedWorkers: s.MaxReservedWorkers})
			fmt.Fprintf(progress, "%-36s %s\n", s.Name, s.Missing)
			continue
		}
		res, err := playStrategy(ctx, d, s, dbDir, o.speed, log)
		if err != nil {
			return rep, err
		}
		rep.Results = append(rep.Results, res)
		fmt.Fprintf(progress, "%-36s %d callers, %d bridged, %d timers, %.1f s\n", s.Name, res.Callers, res.Bridged, res.Steps, res.Wall.Seconds())
	}
	return rep, nil
}

// playStrategy runs one strategy's day and measures it.
func playStrategy(ctx context.Context, d *day, s strategy, dbDir string, speed float64, log *slog.Logger) (Result, error) {
	start := time.Now()
	r, err := startDay(ctx, d, s, dbDir, speed, log)
	if err != nil {
		return Result{}, err
	}
	defer r.close()
	if err := r.play(ctx); err != nil {
		return Result{}, err
	}
	res := r.measure()
	res.Wall = time.Since(start)
	return res, nil
}

// memDir is where the bridge's databases go: memory-backed when the machine has /dev/shm, as
// disk latency changes nothing in simulated time, only how long the run takes.
func memDir() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}
