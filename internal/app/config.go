package app

import (
	"cmp"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"queuebridge/caller"
	"queuebridge/internal/config"
	"queuebridge/operator"
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
	// DatabaseURL is a file path or sqlite://path (SQLite), or postgres://… or
	// postgresql://… (PostgreSQL): see OpenStore.
	DatabaseURL string
	LogLevel    slog.Level
	// Options tune the bridge; URLs, Logger and the workspace-derived fields are set by New.
	Options taskrouter.Options
	// NoAnswerActivity and PostWorkActivity are activity names or WA… SIDs (resolved by New).
	NoAnswerActivity, PostWorkActivity string
	// RestActivity and ReturnActivity are REST_ACTIVITY and REST_RETURN_ACTIVITY: names or WA…
	// SIDs (resolved by New), read only when REST_AFTER_MISSES is set.
	RestActivity, ReturnActivity string
	// RecordCalls records bridged conversations (RECORD_CALLS=true); bootstrap announces it.
	RecordCalls bool
	// Operator configures the live operator page.
	Operator OperatorConfig
	// SMS configures the SMS afterwards (SMS_TEXT, SMS_ABANDONED_AFTER, SMS_TIME_ZONE).
	SMS caller.SMSSettings
}

// OperatorConfig configures the live operator page (GET /operator).
type OperatorConfig struct {
	// Token (OPERATOR_TOKEN) opens the page; without one the page is off, except in sandbox
	// mode, where it opens to loopback requests.
	Token string
	// ShowNumbers (OPERATOR_SHOW_NUMBERS) shows phone numbers whole instead of masked.
	ShowNumbers bool
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
		Port: 8080,
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
	c.Operator = OperatorConfig{Token: env("OPERATOR_TOKEN"), ShowNumbers: env.Bool(&p, "OPERATOR_SHOW_NUMBERS", false)}
	if n := len(c.Operator.Token); n > 0 && n < operator.MinTokenLength {
		p.Add("OPERATOR_TOKEN is %d characters long: want at least %d (e.g. `openssl rand -hex 24`)", n, operator.MinTokenLength)
	}
	c.RestActivity, c.ReturnActivity = loadRest(env, &p, &c.Options)
	c.RecordCalls = env.Bool(&p, "RECORD_CALLS", false)
	c.SMS = loadSMS(env, &p)
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
	// The activities are resolved by New; here only whether they are given counts.
	check.RestActivitySID, check.ReturnActivitySID = c.RestActivity, c.ReturnActivity
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
	o.Whisper, o.ConfirmKey, o.ConfirmTimeout = env.Confirmation(p)
	return o
}

// loadRest reads REST_AFTER_MISSES and REST_COOLDOWN into o, and returns REST_ACTIVITY and
// REST_RETURN_ACTIVITY (default Available), which New resolves.
func loadRest(env config.Env, p *config.Problems, o *taskrouter.Options) (rest, back string) {
	if v := env("REST_AFTER_MISSES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			p.Add("REST_AFTER_MISSES %q: want a number of missed calls in a row (0: never rest)", v)
		}
		o.RestAfter = n
	}
	o.RestFor = env.Duration(p, "REST_COOLDOWN", time.Second, 0)
	if o.RestAfter == 0 {
		return "", ""
	}
	rest, back = env("REST_ACTIVITY"), cmp.Or(env("REST_RETURN_ACTIVITY"), "Available")
	if rest == "" {
		p.Add("REST_ACTIVITY is not set: with REST_AFTER_MISSES, the activity (name or WA… SID) rested workers are moved to")
	}
	if o.RestFor == 0 {
		back = ""
	}
	return rest, back
}

// loadSMS reads the SMS afterwards: SMS_TEXT turns it on; SMS_ABANDONED_AFTER (seconds, or a
// duration) adds callers who hung up after waiting that long; SMS_TIME_ZONE (IANA) is the zone
// of the day of "once a day".
func loadSMS(env config.Env, p *config.Problems) caller.SMSSettings {
	s := caller.SMSSettings{Text: env("SMS_TEXT"), Location: time.UTC}
	s.AbandonedAfter = env.Duration(p, "SMS_ABANDONED_AFTER", time.Second, 0)
	if tz := env("SMS_TIME_ZONE"); tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil || tz == "Local" {
			p.Add("SMS_TIME_ZONE %q: want an IANA time zone such as Europe/Paris or America/New_York", tz)
		} else {
			s.Location = loc
		}
	}
	if s.Text == "" {
		for _, name := range []string{"SMS_ABANDONED_AFTER", "SMS_TIME_ZONE"} {
			if env(name) != "" {
				p.Add("%s is set but SMS_TEXT is not: set SMS_TEXT (the message) to send the SMS afterwards, or unset %s", name, name)
			}
		}
	}
	if err := s.Validate(); err != nil {
		p.Add("%v", err)
	}
	return s
}

// noURLs stands in for the URL builder while the options are only validated.
type noURLs struct{}

func (noURLs) AgentAnswer(string, string) string       { return "" }
func (noURLs) AgentStatus(string, string) string       { return "" }
func (noURLs) AgentConfirm(string, string, int) string { return "" }
