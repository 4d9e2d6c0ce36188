package main

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"

	"queuebridge/taskrouter"
)

// config is everything queuebridge reads from the environment (and .env). The names are a
// contract with deployments: see DESIGN.md.
type config struct {
	AccountSID, AuthToken, APIKey, APISecret string
	WorkspaceSID                             string
	PublicBaseURL                            string
	Port                                     int
	DatabaseURL                              string
	LogLevel                                 slog.Level
	APIURL                                   string
	CallerID                                 string
	AMDMode                                  string
	RingTimeout, AMDTimeout                  time.Duration
	SpeechThreshold, SpeechEndThreshold      time.Duration
	SilenceTimeout                           time.Duration
	UnknownAnswer                            taskrouter.UnknownPolicy
	NoAnswerActivity, PostWorkActivity       string
}

// sandbox reports whether no account is configured: queuebridge then plays against its sandbox.
func (c config) sandbox() bool { return c.AccountSID == "" }

// lookup reads a variable from the process environment first, then from the .env file.
type lookup func(string) string

func newLookup(getenv func(string) string, envFile string) (lookup, error) {
	dotenv := map[string]string{}
	if envFile != "" {
		m, err := godotenv.Read(envFile)
		switch {
		case err == nil:
			dotenv = m
		case isNotExist(err):
		default:
			return nil, fmt.Errorf("reading %s: %w", envFile, err)
		}
	}
	return func(k string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return strings.TrimSpace(dotenv[k])
	}, nil
}

// loadConfig reads and checks the configuration; every error names the variable.
func loadConfig(get lookup) (config, error) {
	c := config{
		AccountSID: get("TWILIO_ACCOUNT_SID"), AuthToken: get("TWILIO_AUTH_TOKEN"),
		APIKey: get("TWILIO_API_KEY"), APISecret: get("TWILIO_API_SECRET"),
		WorkspaceSID: get("TWILIO_WORKSPACE_SID"), PublicBaseURL: get("PUBLIC_BASE_URL"),
		DatabaseURL: get("DATABASE_URL"), APIURL: get("TWILIO_API_URL"), CallerID: get("CALLER_ID"),
		AMDMode: get("AMD_MODE"), UnknownAnswer: taskrouter.UnknownPolicy(strings.ToLower(get("UNKNOWN_ANSWER"))),
		NoAnswerActivity: get("NOANSWER_ACTIVITY"), PostWorkActivity: get("POSTWORK_ACTIVITY"),
	}
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	c.Port = 8080
	if v := get("PORT"); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			fail("PORT %q: want a port number from 0 to 65535", v)
		}
		c.Port = p
	}
	if c.PublicBaseURL == "" {
		c.PublicBaseURL = fmt.Sprintf("http://127.0.0.1:%d", c.Port)
	}
	switch v := strings.ToLower(get("LOG_LEVEL")); v {
	case "", "info":
		c.LogLevel = slog.LevelInfo
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "warn":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		fail("LOG_LEVEL %q: want debug, info, warn or error", v)
	}
	if c.AMDMode == "" {
		c.AMDMode = taskrouter.AMDEnable
	}
	durations := []struct {
		name string
		unit time.Duration
		dst  *time.Duration
	}{
		{"RING_TIMEOUT", time.Second, &c.RingTimeout},
		{"AMD_TIMEOUT", time.Second, &c.AMDTimeout},
		{"AMD_SPEECH_THRESHOLD", time.Millisecond, &c.SpeechThreshold},
		{"AMD_SPEECH_END_THRESHOLD", time.Millisecond, &c.SpeechEndThreshold},
		{"AMD_SILENCE_TIMEOUT", time.Millisecond, &c.SilenceTimeout},
	}
	for _, d := range durations {
		v := get(d.name)
		if v == "" {
			continue
		}
		dur, err := parseDuration(v, d.unit)
		if err != nil {
			fail("%s %q: %v", d.name, v, err)
			continue
		}
		*d.dst = dur
	}
	if !c.sandbox() {
		if !taskrouter.ValidSID(c.AccountSID, taskrouter.PrefixAccount) {
			fail("TWILIO_ACCOUNT_SID %q: want AC followed by 32 hex digits", c.AccountSID)
		}
		if c.AuthToken == "" {
			fail("TWILIO_AUTH_TOKEN is missing: it is needed to check Twilio's request signatures")
		}
		if (c.APIKey == "") != (c.APISecret == "") {
			fail("TWILIO_API_KEY and TWILIO_API_SECRET go together: set both or neither")
		}
		if !taskrouter.ValidSID(c.WorkspaceSID, taskrouter.PrefixWorkspace) {
			fail("TWILIO_WORKSPACE_SID %q: want WS followed by 32 hex digits (go run ./cmd/bootstrap apply --env-out .env writes it)", c.WorkspaceSID)
		}
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("configuration:\n  %s", strings.Join(errs, "\n  "))
	}
	if err := c.options().Validate(); err != nil {
		return c, fmt.Errorf("configuration: %w", err)
	}
	return c, nil
}

// parseDuration accepts a Go duration ("25s", "1500ms") or a bare number in unit.
func parseDuration(v string, unit time.Duration) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("must not be negative")
		}
		return time.Duration(n) * unit, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("want a number of %s or a duration such as 25s", map[time.Duration]string{time.Second: "seconds", time.Millisecond: "milliseconds"}[unit])
	}
	return d, nil
}

// options maps the configuration to the bridge's options (activity names are resolved later).
func (c config) options() taskrouter.Options {
	return taskrouter.Options{
		PublicBaseURL: c.PublicBaseURL, CallerID: c.CallerID, MachineDetection: c.AMDMode,
		RingTimeout: c.RingTimeout, AMDTimeout: c.AMDTimeout,
		SpeechThreshold: c.SpeechThreshold, SpeechEndThreshold: c.SpeechEndThreshold, SilenceTimeout: c.SilenceTimeout,
		UnknownAnswer: c.UnknownAnswer,
	}
}
