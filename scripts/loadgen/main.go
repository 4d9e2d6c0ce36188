// Command loadgen sends correctly signed, realistic Twilio traffic to a queuebridge, at a target
// rate or at full speed, and reports throughput and latency per request type, and the time from
// sending reservation.created to the bridge's Calls.create arriving at its Twilio.
//
// By default it starts a bridge in process (the real store, bridge, handlers and twilio-go
// client, wired as cmd/bridge wires them) whose Twilio is loadgen's own fake (fake.go). With
// -url it drives a bridge already running, which must use loadgen's fake as its Twilio:
//
//	go run ./scripts/loadgen -url http://127.0.0.1:8080 -twilio-addr 127.0.0.1:8099 &
//	TWILIO_ACCOUNT_SID=AC00000000000000000000000000000001 TWILIO_AUTH_TOKEN=10adgen0a0th0t0ken0000000000000a \
//	TWILIO_WORKSPACE_SID=WS00000000000000000000000000000001 TWILIO_API_URL=http://127.0.0.1:8099 \
//	go run ./cmd/bridge
//
// Scenarios:
//
//	flow        whole reservations: created, the call placed, ringing, then a human (80%: answer,
//	            accepted, the Dial's action, completed, wrapup, task completed), a machine (10%:
//	            hangup, rejected) or no answer (10%: rejected); -rate counts reservations per second
//	created     reservation.created only; the reservations stay in flight (ringing)
//	dial-queue  a human answers a ringing agent leg; the ringing reservations are made first
//	            (not measured); -rate counts answers per second
//	dial-queue-retry
//	            Twilio retries that answer for reservations already decided (each answered
//	            once first, not measured): the bridge answers from a read; a bare net/http
//	            handler is measured first with the same requests, and the report gives the ratio
//
// -replicas N starts N bridges in process on one PostgreSQL database (-db postgres://…, whose
// search_path schema must exist) and spreads the requests over them round robin; -url takes
// several comma-separated bridges too (their PUBLIC_BASE_URL must be the first one's).
//
// Everything stays on the loopback interface, and every run is bounded in count and time.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
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
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
}

const (
	maxDuration = 10 * time.Minute
	maxCount    = 1_000_000
	maxConns    = 1024

	accountSID   = "AC00000000000000000000000000000001"
	workspaceSID = "WS00000000000000000000000000000001"
	workflowSID  = "WW00000000000000000000000000000001"
	defaultToken = "10adgen0a0th0t0ken0000000000000a"
	// defaultOperatorToken is the in-process bridge's OPERATOR_TOKEN when streams are held open.
	defaultOperatorToken = "loadgen-operator-token-000000000"
)

type options struct {
	scenario   string
	rate       float64
	conns      int
	duration   time.Duration
	count      int
	url        string
	token      string
	twilioAddr string
	json       bool
	jsonOut    string
	preload    int
	dbPath     string
	logLevel   string
	cpuProfile string
	workers    int
	replicas   int
	sse        int
	sseStalled int
	opToken    string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.scenario, "scenario", "flow", "flow, created, dial-queue or dial-queue-retry")
	fs.Float64Var(&o.rate, "rate", 0, "units per second (reservations for flow and created, answers for dial-queue); 0: full speed")
	fs.IntVar(&o.conns, "c", 32, "connections (concurrent units) at full speed; the most units in flight at a rate")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send (at most 10m)")
	fs.IntVar(&o.count, "n", 0, "stop after this many units (0: the duration alone decides; at most 1,000,000)")
	fs.StringVar(&o.url, "url", "", "drive the bridge at this loopback URL (or several, comma-separated, signed for the first) instead of starting one in process")
	fs.StringVar(&o.token, "token", defaultToken, "the auth token requests are signed with (the bridge's TWILIO_AUTH_TOKEN)")
	fs.StringVar(&o.twilioAddr, "twilio-addr", "127.0.0.1:0", "where the fake Twilio listens (loopback)")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	fs.StringVar(&o.jsonOut, "json-out", "", "also write the report as JSON to this file")
	fs.IntVar(&o.preload, "preload", 0, "store this many finished reservations first (in-process bridge only)")
	fs.StringVar(&o.dbPath, "db", "", "the in-process bridge's DATABASE_URL: a SQLite file or postgres://… (default: a new SQLite file in a temporary directory)")
	fs.IntVar(&o.replicas, "replicas", 1, "bridges to start in process on -db (more than 1 needs PostgreSQL)")
	fs.StringVar(&o.logLevel, "log", "off", "the in-process bridge's log to stderr: off, debug, info, warn, error (off still formats at info)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured phase (loadgen and in-process bridge together) to this file")
	fs.IntVar(&o.workers, "workers", 0, "the in-process bridge's dispatcher workers (0: the bridge's default)")
	fs.IntVar(&o.sse, "sse", 0, "hold this many operator-page streams open during the run, each read as a browser would (turns the page on)")
	fs.IntVar(&o.sseStalled, "sse-stalled", 0, "hold this many operator-page streams open and never read them")
	fs.StringVar(&o.opToken, "operator-token", defaultOperatorToken, "the operator token the streams present (the bridge's OPERATOR_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if fs.NArg() > 0 {
		bad("unexpected arguments %q", fs.Args())
	}
	switch o.scenario {
	case "flow", "created", "dial-queue", "dial-queue-retry":
	default:
		bad("-scenario %q: want flow, created, dial-queue or dial-queue-retry", o.scenario)
	}
	if o.replicas < 1 || o.replicas > 16 {
		bad("-replicas %d: want 1 to 16", o.replicas)
	} else if o.replicas > 1 && !strings.HasPrefix(o.dbPath, "postgres://") && !strings.HasPrefix(o.dbPath, "postgresql://") {
		bad("-replicas %d: several bridges share a PostgreSQL database: set -db postgres://…", o.replicas)
	}
	if o.rate < 0 || o.rate > 100_000 {
		bad("-rate %g: want 0 (full speed) to 100000 per second", o.rate)
	}
	if o.conns < 1 || o.conns > maxConns {
		bad("-c %d: want 1 to %d", o.conns, maxConns)
	}
	if o.duration <= 0 || o.duration > maxDuration {
		bad("-duration %s: want more than 0 and at most %s", o.duration, maxDuration)
	}
	if o.count < 0 || o.count > maxCount {
		bad("-n %d: want 0 to %d", o.count, maxCount)
	}
	if o.preload < 0 || o.preload > maxCount {
		bad("-preload %d: want 0 to %d", o.preload, maxCount)
	}
	if o.url != "" {
		for _, u := range strings.Split(o.url, ",") {
			if err := loopbackURL(u); err != nil {
				bad("-url: %v", err)
			}
		}
		if o.preload > 0 {
			bad("-preload needs the in-process bridge: drop -url")
		}
		if o.replicas > 1 {
			bad("-replicas starts bridges in process: drop -url")
		}
	}
	if host, _, err := net.SplitHostPort(o.twilioAddr); err != nil || !loopbackHost(host) {
		bad("-twilio-addr %q: want a loopback host:port such as 127.0.0.1:8099", o.twilioAddr)
	}
	switch o.logLevel {
	case "off", "debug", "info", "warn", "error":
	default:
		bad("-log %q: want off, debug, info, warn or error", o.logLevel)
	}
	if o.workers < 0 || o.workers > 1024 {
		bad("-workers %d: want 0 to 1024", o.workers)
	}
	if o.sse < 0 || o.sse > 1000 || o.sseStalled < 0 || o.sseStalled > 1000 {
		bad("-sse %d, -sse-stalled %d: want 0 to 1000 each", o.sse, o.sseStalled)
	}
	if len(o.opToken) < 16 {
		bad("-operator-token: want at least 16 characters, as OPERATOR_TOKEN")
	}
	if !alphanumeric(o.token) {
		bad("-token %q: want letters and digits only, as Twilio auth tokens are", o.token)
	}
	return o, errors.Join(errs...)
}

func alphanumeric(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return s != ""
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func loopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("%q: want http://127.0.0.1:PORT", raw)
	}
	if !loopbackHost(u.Hostname()) {
		return fmt.Errorf("%q: only loopback targets (127.0.0.1, ::1, localhost)", raw)
	}
	return nil
}

// run is the whole program; the test calls it too.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	fake, err := startFakeTwilio(accountSID, o.twilioAddr)
	if err != nil {
		return err
	}
	defer fake.close()

	var targets []string
	var inproc []*bridgeProcess
	if o.url == "" {
		if inproc, err = startBridges(ctx, o, fake.URL(), stderr); err != nil {
			return err
		}
		defer func() {
			for _, b := range inproc {
				b.stop()
			}
		}()
		for _, b := range inproc {
			targets = append(targets, b.url)
		}
	} else {
		targets = strings.Split(o.url, ",")
		for _, t := range targets {
			if err := waitHealthy(ctx, t); err != nil {
				return err
			}
		}
	}
	if o.preload > 0 {
		fmt.Fprintf(stderr, "loadgen: preloading %d finished reservations…\n", o.preload)
		if err := inproc[0].preload(ctx, o.preload); err != nil {
			return fmt.Errorf("preloading: %w", err)
		}
	}
	var streams *sseClients
	if o.sse+o.sseStalled > 0 {
		fmt.Fprintf(stderr, "loadgen: opening %d operator streams (%d stalled)…\n", o.sse+o.sseStalled, o.sseStalled)
		if streams, err = openStreams(ctx, targets[0], o.opToken, o.sse, o.sseStalled); err != nil {
			return err
		}
	}
	g := newGenerator(o, targets, fake)
	defer g.client.CloseIdleConnections()
	rep, err := g.run(ctx)
	if streams != nil {
		sse := streams.stop()
		rep.SSE = &sse
	}
	if err != nil {
		return err
	}
	rep.TwilioErrors, rep.JobRetries = -1, -1
	if inproc != nil {
		rep.TwilioErrors, rep.JobRetries = 0, 0
		for _, b := range inproc {
			rep.TwilioErrors += b.twilioErrors.Load()
			rep.JobRetries += b.jobRetries.Load()
		}
	}
	if o.jsonOut != "" {
		f, err := os.Create(o.jsonOut)
		if err != nil {
			return err
		}
		if err := errors.Join(rep.writeJSON(f), f.Close()); err != nil {
			return err
		}
	}
	if o.json {
		return rep.writeJSON(stdout)
	}
	return rep.writeTable(stdout)
}
