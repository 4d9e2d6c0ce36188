// Command bridge runs queuebridge: the HTTP server Twilio calls (TaskRouter events, the agent
// leg's TwiML and status callbacks) and the dispatcher that places and ends agent legs.
//
// With TWILIO_ACCOUNT_SID set it works against that Twilio account; without, against the sandbox.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"queuebridge/handlers"
	"queuebridge/internal/app"
	"queuebridge/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "queuebridge:", err)
		os.Exit(1)
	}
}

// run is the whole program; tests call it too.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("bridge", flag.ContinueOnError)
	flags.SetOutput(stderr)
	envFile := flags.String("env-file", ".env", "read variables from this file when present (the environment wins)")
	port := flags.String("port", "", "listen port (PORT)")
	demo := flags.Bool("demo", true, "sandbox mode: place the demo calls before serving")
	speed := flags.Float64("speed", 10, "sandbox mode: how many times faster than real time the sandbox's clock runs")
	if err := flags.Parse(args); err != nil {
		return err
	}
	envFileSet := false
	flags.Visit(func(f *flag.Flag) { envFileSet = envFileSet || f.Name == "env-file" })
	env, err := config.NewEnv(getenv, *envFile, !envFileSet)
	if err != nil {
		return err
	}
	env = env.With("PORT", *port)
	cfg, err := app.LoadConfig(env)
	if err != nil {
		return err
	}
	if cfg.Sandbox() {
		if *speed < 1 || *speed > 1000 {
			return fmt.Errorf("-speed %v: want 1 (real time) to 1000", *speed)
		}
		if env("LOG_LEVEL") == "" {
			cfg.LogLevel = slog.LevelWarn // the demo's timelines are the output; the bridge's log stays quiet
		}
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
		return runSandboxMode(ctx, cfg, *demo, *speed, stdout, log)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", cfg.Port))
	if err != nil {
		return fmt.Errorf("PORT %d: %w", cfg.Port, err)
	}
	a, err := app.New(ctx, cfg, app.WithLogger(log))
	if err != nil {
		ln.Close()
		return err
	}
	defer a.Close()
	fmt.Fprintf(stdout, "queuebridge listening on %s (public URL %s)\n", ln.Addr(), cfg.PublicBaseURL)
	if cfg.Operator.Token != "" {
		fmt.Fprintf(stdout, "the live operator page: %s%s (log in with OPERATOR_TOKEN)\n", strings.TrimRight(cfg.PublicBaseURL, "/"), handlers.PathOperator)
	}
	return a.Serve(ctx, ln)
}
