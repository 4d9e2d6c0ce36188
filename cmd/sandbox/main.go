// Command sandbox runs queuebridge's Twilio sandbox on its own, on loopback, and places calls
// through it.
//
//	go run ./cmd/sandbox [-addr 127.0.0.1:8910] [-speed 1]
//
// serves the sandbox until Ctrl-C, printing its URL and credentials and how to point the
// bridge and the bootstrap at it.
//
//	go run ./cmd/sandbox call --from +15551230001 --to +15005550006 --agents human,voicemail
//
// places an inbound call through a running sandbox's control surface (/sandbox/) and prints
// the call's timeline as it happens. See docs/SANDBOX.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"queuebridge/sandbox"
	"queuebridge/sandbox/clock"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "sandbox:", err)
		os.Exit(1)
	}
}

// usageError is a mistake on the command line: exit status 2, as flag does.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{msg: fmt.Sprintf(format, args...)} }

const usage = `usage:
  sandbox [-addr host:port] [-speed N]     run the sandbox until Ctrl-C
  sandbox call [flags]                     place a call through a running sandbox

serve flags:
`

// run is the whole program, its environment passed in so tests can call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "call" {
		return runCall(ctx, args[1:], getenv, stdout, stderr)
	}
	return serve(ctx, args, stdout, stderr)
}

// defaultAddr is a fixed port, so the URL printed today is the URL in yesterday's shell.
const defaultAddr = "127.0.0.1:8910"

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
		fmt.Fprint(stderr, "\ncall flags: sandbox call -h\n")
	}
	addr := fs.String("addr", defaultAddr, "listen `address`; loopback only (port 0: any free port)")
	speed := fs.Float64("speed", 1, "clock speed: 1 is real time, 10 makes a 60 s ring last 6 s")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error (logs go to stderr)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q (the only command is \"call\")", fs.Arg(0))
	}
	if *speed < 1 || *speed > 10000 {
		return usagef("-speed %v: want a factor from 1 (real time) to 10000", *speed)
	}
	if err := checkLoopback(*addr); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usagef("-log-level %q: want debug, info, warn or error", *logLevel)
	}

	var clk clock.Clock = clock.Real{}
	if *speed != 1 {
		clk = clock.NewScaled(*speed)
	}
	sb, err := sandbox.New(sandbox.Config{
		Clock:  clk,
		Addr:   *addr,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		return err
	}
	if err := sb.Start(); err != nil {
		return err
	}
	printBanner(stdout, sb, *speed)
	<-ctx.Done()
	fmt.Fprintln(stdout, "stopping the sandbox")
	return sb.Close()
}

// checkLoopback refuses to serve beyond this machine: the sandbox's credentials are public.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("-addr %q: want host:port (127.0.0.1:8910)", addr)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return usagef("-addr %q: the sandbox serves on loopback only (127.0.0.1, ::1 or localhost): its credentials are public", addr)
	}
	return nil
}

func printBanner(w io.Writer, sb *sandbox.Sandbox, speed float64) {
	ac, token := sb.Credentials()
	clockDesc := "real time"
	if speed != 1 {
		clockDesc = fmt.Sprintf("%g× real time", speed)
	}
	lines := []string{
		"queuebridge sandbox: a stand-in for Twilio (TaskRouter, Voice with AMD, Studio). No real calls are made.",
		"",
		"  URL          " + sb.URL(),
		"  Account SID  " + ac,
		"  Auth token   " + token,
		"  Number       " + sandbox.DefaultNumber + " (" + sandbox.DefaultNumberFriendlyName + ")",
		"  Clock        " + clockDesc,
		"",
		"Point the bootstrap and the bridge at it (PUBLIC_BASE_URL is where the bridge listens):",
		"  export TWILIO_API_URL=" + sb.URL(),
		"  export TWILIO_ACCOUNT_SID=" + ac,
		"  export TWILIO_AUTH_TOKEN=" + token,
		"  export PUBLIC_BASE_URL=http://127.0.0.1:8080",
		"  go run ./cmd/bootstrap apply --spec taskrouter/queuebridge.example.yaml --yes",
		"  go run ./cmd/bridge",
		"",
		"Place a call (agents' personas map onto the workers in creation order: Alice, Bob, Carol):",
		"  go run ./cmd/sandbox call --url " + sb.URL() + " --from +15551230001 --to " + sandbox.DefaultNumber + " --agents human,voicemail",
		"Control surface: curl -u " + ac + ":" + token + " " + sb.URL() + "/sandbox/",
		"",
		"Serving until Ctrl-C.",
	}
	fmt.Fprintln(w, strings.Join(lines, "\n"))
}
