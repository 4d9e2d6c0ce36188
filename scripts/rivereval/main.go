// Command rivereval measures riverqueue/river (riverpgxv5) against a plain job table claimed with
// FOR UPDATE SKIP LOCKED and woken by LISTEN/NOTIFY, for queuebridge's PostgreSQL mode (issue 12):
//
//   - latency: from the COMMIT of a transaction that stores a row and queues its job to the
//     worker's Work starting, at a steady rate and in a burst, with three worker replicas;
//   - overlap: whether a job that runs long (a dial waiting for its leg to report) is run a
//     second time while the first run is still going;
//   - takeover: how long the jobs of a SIGKILLed worker process wait for another process.
//
// Every run uses a fresh schema in the database given by -db and drops it at the end. It is its
// own module so that queuebridge does not depend on River. Run it from this directory:
//
//	go run . [-only latency,overlap,takeover] [-n 2000] [-rate 200] [-db postgres://…]
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
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

type options struct {
	db, only, role, impl, schema, id, queue string
	n, burst, reps, slots                   int
	rate                                    float64
	lease                                   time.Duration
	verbose                                 bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rivereval:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("rivereval", flag.ContinueOnError)
	fs.StringVar(&o.db, "db", envOr("QUEUEBRIDGE_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"), "PostgreSQL URL (a fresh schema is made in it per run)")
	fs.StringVar(&o.only, "only", "latency,overlap,takeover", "experiments to run")
	fs.IntVar(&o.n, "n", 2000, "jobs per latency run")
	fs.Float64Var(&o.rate, "rate", 200, "arrival rate of the steady latency run, per second")
	fs.IntVar(&o.burst, "burst", 32, "concurrent inserting transactions in the burst run")
	fs.IntVar(&o.reps, "reps", 2, "takeover measurements per case")
	fs.IntVar(&o.slots, "slots", 64, "jobs a worker replica runs at once (the bridge's default)")
	fs.DurationVar(&o.lease, "lease", 5*time.Second, "lease of the plain design's claims (renewed every lease/3)")
	fs.BoolVar(&o.verbose, "v", false, "log River's and the workers' warnings to stderr")
	fs.StringVar(&o.role, "role", "", "internal: worker, for the takeover experiment's processes")
	fs.StringVar(&o.impl, "impl", "", "internal: river or plain")
	fs.StringVar(&o.schema, "schema", "", "internal: the schema")
	fs.StringVar(&o.id, "id", "", "internal: the worker's ID")
	fs.StringVar(&o.queue, "queue", "dial", "internal: the queue the worker works")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.n < 1 || o.rate <= 0 || o.burst < 1 || o.reps < 1 || o.slots < 1 || o.lease < 300*time.Millisecond {
		return errors.New("-n, -rate, -burst, -reps and -slots must be positive, -lease at least 300ms")
	}
	level := slog.LevelError + 4 // silent
	if o.verbose {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if o.role == "worker" {
		return runWorker(ctx, &o, o.queueFor(o.impl, o.schema, takeoverRiver, log))
	}
	if o.role != "" {
		return fmt.Errorf("-role %q: only worker", o.role)
	}
	return evaluate(ctx, &o, out, log)
}

// The River settings evaluated. River's rescuer runs every 30 s on the leader (not configurable);
// RescueStuckJobsAfter and JobTimeout are set as low as a 10 s takeover target would need.
var (
	riverDefault  = riverSettings{label: "defaults", fetchCooldown: 100 * time.Millisecond, fetchPollInterval: time.Second}
	riverTuned    = riverSettings{label: "tuned", fetchCooldown: time.Millisecond, fetchPollInterval: 50 * time.Millisecond}
	takeoverRiver = riverSettings{label: "tuned, RescueStuckJobsAfter 5s, JobTimeout 5s", fetchCooldown: time.Millisecond,
		fetchPollInterval: 50 * time.Millisecond, rescueAfter: 5 * time.Second, jobTimeout: 5 * time.Second}
)

func (o *options) queueFor(impl, schema string, s riverSettings, log *slog.Logger) jobQueue {
	if impl == "river" {
		return &riverQueue{url: o.db, schema: schema, settings: s, slots: o.slots, log: log}
	}
	return &plainQueue{url: o.db, schema: schema, lease: o.lease, poll: time.Second, slots: o.slots, log: log,
		notifyInTx: impl == "plain-notify-in-tx"}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func pidOf() int { return os.Getpid() }

// evaluate runs the experiments and prints their tables (Markdown).
func evaluate(ctx context.Context, o *options, out io.Writer, log *slog.Logger) error {
	pool, err := newPool(ctx, o.db, 40)
	if err != nil {
		return err
	}
	defer pool.Close()
	var pgVersion string
	_ = pool.QueryRow(ctx, "SHOW server_version").Scan(&pgVersion)
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(out, "rivereval: %s, %d CPUs, %s, PostgreSQL %s, load %s\n", time.Now().UTC().Format(time.RFC3339),
		runtime.NumCPU(), runtime.Version(), pgVersion, strings.Join(strings.Fields(string(load))[:3], " "))
	schemas := 0
	fresh := func(impl string, s riverSettings) (jobQueue, func(), error) {
		schemas++
		schema, err := freshSchema(ctx, pool, schemas)
		if err != nil {
			return nil, nil, err
		}
		q := o.queueFor(impl, schema, s, log)
		done := func() { q.close(); dropSchema(pool, schema) }
		if err := q.setup(ctx, pool); err != nil {
			done()
			return nil, nil, err
		}
		return q, done, nil
	}
	for _, exp := range strings.Split(o.only, ",") {
		var err error
		switch exp {
		case "latency":
			err = latencyTable(ctx, o, out, pool, fresh)
		case "overlap":
			err = overlapTable(ctx, out, pool, fresh)
		case "takeover":
			err = takeoverTable(ctx, o, out, pool, fresh)
		default:
			err = fmt.Errorf("-only: unknown experiment %q (latency, overlap, takeover)", exp)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

type freshFunc func(impl string, s riverSettings) (jobQueue, func(), error)

func latencyTable(ctx context.Context, o *options, out io.Writer, pool *pgxpool.Pool, fresh freshFunc) error {
	fmt.Fprintf(out, "\n### COMMIT → Work start, 3 worker replicas, %d jobs per run\n\n", o.n)
	fmt.Fprintln(out, "| design | arrival | jobs | p50 ms | p90 ms | p99 ms | max ms | run twice |")
	fmt.Fprintln(out, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	arrivals := []arrival{
		{label: fmt.Sprintf("%.0f/s", o.rate), rate: o.rate},
		{label: fmt.Sprintf("burst, %d transactions at a time", o.burst), burst: o.burst},
	}
	designs := []struct {
		impl string
		s    riverSettings
	}{{"plain", riverSettings{}}, {"plain-notify-in-tx", riverSettings{}}, {"river", riverTuned}, {"river", riverDefault}}
	for _, d := range designs {
		for _, a := range arrivals {
			q, done, err := fresh(d.impl, d.s)
			if err != nil {
				return err
			}
			res, err := measureLatency(ctx, pool, q, 3, o.n, a)
			done()
			if err != nil {
				return err
			}
			fmt.Fprintln(out, res)
		}
	}
	return nil
}

func overlapTable(ctx context.Context, out io.Writer, pool *pgxpool.Pool, fresh freshFunc) error {
	fmt.Fprintln(out, "\n### Jobs that run 12 s (a dial waiting LegReportWait for its leg, then listing calls), 2 live replicas")
	fmt.Fprintln(out, "\n| design | jobs | runs | run twice | run twice at once |")
	fmt.Fprintln(out, "| --- | --- | --- | --- | --- |")
	for _, impl := range []string{"river", "plain"} {
		q, done, err := fresh(impl, takeoverRiver)
		if err != nil {
			return err
		}
		res, err := measureOverlap(ctx, pool, q, 20, 12*time.Second, 1500*time.Millisecond)
		done()
		if err != nil {
			return err
		}
		fmt.Fprintln(out, res)
	}
	return nil
}

func takeoverTable(ctx context.Context, o *options, out io.Writer, pool *pgxpool.Pool, fresh freshFunc) error {
	fmt.Fprintln(out, "\n### Takeover: a worker process holding 4 running jobs is SIGKILLed; an idle process takes them")
	fmt.Fprintln(out, "\n| design | killed | kill → first job restarted, s | kill → last, s |")
	fmt.Fprintln(out, "| --- | --- | --- | --- |")
	cases := []struct {
		impl       string
		killLeader bool
	}{{"plain", false}, {"river", false}, {"river", true}}
	for _, c := range cases {
		for range o.reps {
			q, done, err := fresh(c.impl, takeoverRiver)
			if err != nil {
				return err
			}
			res, err := measureTakeover(ctx, o, pool, q, c.impl, c.killLeader, 4)
			done()
			if err != nil {
				return fmt.Errorf("%s: %w", q.name(), err)
			}
			fmt.Fprintln(out, res)
		}
	}
	return nil
}
