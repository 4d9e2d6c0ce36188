package app

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"queuebridge/internal/config"
	"queuebridge/taskrouter"
)

// Config is everything the bridge is built from. LoadConfig reads it from the environment;
// tests and tools fill it in directly.
type Config struct {
	Twilio       config.Twilio
	WorkspaceSID string
	// PublicBaseURL is where Twilio reaches the bridge; signatures are checked against it.
	PublicBaseURL string
	Port          int
	// DatabaseURL is a file path or sqlite://path.
	DatabaseURL string
	LogLevel    slog.Level
	// Options tune the bridge; URLs, Logger and the workspace-derived fields are set by New.
	Options taskrouter.Options
	// NoAnswerActivity and PostWorkActivity are activity names or WA… SIDs (resolved by New).
	NoAnswerActivity, PostWorkActivity string
	// OperatorToken opens the operator routes (OPERATOR_TOKEN, a bearer token); empty: closed.
	OperatorToken string
	// RecordCalls records bridged conversations (RECORD_CALLS=true); bootstrap announces it.
	RecordCalls bool
}

// Sandbox reports whether no account is configured: the bridge then plays against its sandbox.
func (c Config) Sandbox() bool { return c.Twilio.AccountSID == "" }

// LoadConfig reads and checks the configuration; every error names its variable.
func LoadConfig(env config.Env) (Config, error) {
	var p config.Problems
	c := Config{
		Twilio:       env.Twilio(&p, false),
		WorkspaceSID: env("TWILIO_WORKSPACE_SID"), PublicBaseURL: env.URL(&p, "PUBLIC_BASE_URL"),
		DatabaseURL:      env("DATABASE_URL"),
		NoAnswerActivity: env("NOANSWER_ACTIVITY"), PostWorkActivity: env("POSTWORK_ACTIVITY"),
		OperatorToken: env("OPERATOR_TOKEN"),
		Port:          8080,
	}
	if v := env("PORT"); v != "" {
		port, err := strconv.Atoi(v)
		if err != nil || port < 0 || port > 65535 {
			p.Add("PORT %q: want a port number from 0 to 65535", v)
		}
		c.Port = port
	}
	switch {
	case c.PublicBaseURL == "" && c.Sandbox():
		c.PublicBaseURL = fmt.Sprintf("http://127.0.0.1:%d", c.Port)
	case c.PublicBaseURL == "":
		p.Add("PUBLIC_BASE_URL is not set: with an account it is required, the https URL Twilio reaches this server at " +
			"(a tunnel's URL in development); loopback is never reachable from Twilio")
	}
	if err := c.LogLevel.UnmarshalText([]byte(env("LOG_LEVEL"))); err != nil && env("LOG_LEVEL") != "" {
		p.Add("LOG_LEVEL %q: want debug, info, warn or error", env("LOG_LEVEL"))
	}
	c.Options = loadOptions(env, &p)
	c.RecordCalls = env.Bool(&p, "RECORD_CALLS")
	if c.Sandbox() {
		noSilentSandbox(env, &p)
	}
	if !c.Sandbox() && !taskrouter.ValidSID(c.WorkspaceSID, taskrouter.PrefixWorkspace) {
		p.Add("TWILIO_WORKSPACE_SID %q: want WS followed by 32 hex digits (go run ./cmd/bootstrap apply --env-out .env writes it)", c.WorkspaceSID)
	}
	if err := p.Err(); err != nil {
		return c, err
	}
	check := c.Options
	check.URLs = noURLs{}
	if err := check.Validate(); err != nil {
		return c, fmt.Errorf("configuration: %w", config.OptionError(err))
	}
	return c, nil
}

// accountVars only make sense with an account: set without TWILIO_ACCOUNT_SID, the bridge would
// fall back to its sandbox while the user believes they configured Twilio.
var accountVars = []string{"TWILIO_AUTH_TOKEN", "TWILIO_API_KEY", "TWILIO_API_SECRET", "TWILIO_WORKSPACE_SID", "TWILIO_API_URL"}

func noSilentSandbox(env config.Env, p *config.Problems) {
	for _, name := range accountVars {
		if env(name) != "" {
			p.Add("%s is set but TWILIO_ACCOUNT_SID is not: set TWILIO_ACCOUNT_SID to use your account, or unset %s to run against the built-in sandbox", name, name)
		}
	}
}

// loadOptions reads the agent leg's settings.
func loadOptions(env config.Env, p *config.Problems) taskrouter.Options {
	o := taskrouter.Options{
		CallerID: env("CALLER_ID"), MachineDetection: env("AMD_MODE"),
		UnknownAnswer: taskrouter.UnknownPolicy(strings.ToLower(env("UNKNOWN_ANSWER"))),
	}
	o.RingTimeout, o.AMDTimeout = env.LegTiming(p)
	ms := func(name string) time.Duration { return env.Duration(p, name, time.Millisecond, 0) }
	o.SpeechThreshold = ms("AMD_SPEECH_THRESHOLD")
	o.SpeechEndThreshold = ms("AMD_SPEECH_END_THRESHOLD")
	o.SilenceTimeout = ms("AMD_SILENCE_TIMEOUT")
	return o
}

// noURLs stands in for the URL builder while the options are only validated.
type noURLs struct{}

func (noURLs) AgentAnswer(string, string) string { return "" }
func (noURLs) AgentStatus(string) string         { return "" }
