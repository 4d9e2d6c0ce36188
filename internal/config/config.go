// Package config reads queuebridge's settings from the environment and an optional .env file,
// for the bridge and bootstrap alike: one loader, one duration syntax, one check for URLs and
// for Twilio credentials, and errors that name the variable a user wrote. The variable names
// are a contract with deployments (docs/DESIGN.md).
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"

	"queuebridge/taskrouter"
	"queuebridge/twiliogo"
)

// Env looks a variable up: the process environment first, then the .env file.
type Env func(name string) string

// NewEnv reads envFile (when not empty) behind getenv. A missing file is skipped when optional
// (the default .env), and an error when the user named it.
func NewEnv(getenv func(string) string, envFile string, optional bool) (Env, error) {
	dotenv := map[string]string{}
	if envFile != "" {
		m, err := godotenv.Read(envFile)
		switch {
		case err == nil:
			dotenv = m
		case errors.Is(err, fs.ErrNotExist) && optional:
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("env file %s does not exist", envFile)
		default:
			// godotenv's parse errors quote the offending line, which may hold a secret.
			return nil, fmt.Errorf("reading %s: not a valid .env file (KEY=value lines)", envFile)
		}
	}
	return func(k string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return strings.TrimSpace(dotenv[k])
	}, nil
}

// With returns an Env where name reads value when value is not empty (a flag over a variable).
func (e Env) With(name, value string) Env {
	if value == "" {
		return e
	}
	return func(k string) string {
		if k == name {
			return value
		}
		return e(k)
	}
}

// Problems collects configuration errors, each naming its variable, to report them all at once.
type Problems []string

// Add records a problem.
func (p *Problems) Add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// Err is nil without problems, else one error listing them.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return fmt.Errorf("configuration:\n  %s", strings.Join(p, "\n  "))
}

// Bool reads a variable as true (1, true, yes, on) or false (0, false, no, off); def when unset.
func (e Env) Bool(p *Problems, name string, def bool) bool {
	switch strings.ToLower(e(name)) {
	case "":
		return def
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	p.Add("%s %q: want true or false", name, e(name))
	return def
}

// Duration reads a variable as a Go duration ("25s", "1500ms") or a bare number of unit; def
// when unset.
func (e Env) Duration(p *Problems, name string, unit, def time.Duration) time.Duration {
	v := e(name)
	if v == "" {
		return def
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			p.Add("%s %q: must not be negative", name, v)
			return def
		}
		return time.Duration(n) * unit
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		units := map[time.Duration]string{time.Second: "seconds", time.Millisecond: "milliseconds"}[unit]
		p.Add("%s %q: want a number of %s or a duration such as 25s", name, v, units)
		return def
	}
	return d
}

// CheckBaseURL reports whether s is an absolute http(s) URL.
func CheckBaseURL(s string) error {
	u, err := url.Parse(s)
	if s == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want an absolute http(s) URL", s)
	}
	return nil
}

// URL reads a variable that must be an absolute http(s) URL when set.
func (e Env) URL(p *Problems, name string) string {
	v := e(name)
	if v != "" {
		if err := CheckBaseURL(v); err != nil {
			p.Add("%s %v", name, err)
		}
	}
	return v
}

// Twilio is how queuebridge reaches Twilio's REST APIs.
type Twilio struct {
	twiliogo.Credentials
	// APIURL is TWILIO_API_URL: send every request there instead of *.twilio.com.
	APIURL string
}

// Twilio reads the credentials and TWILIO_API_URL. With required false and no account SID,
// nothing is checked (the bridge's sandbox mode).
func (e Env) Twilio(p *Problems, required bool) Twilio {
	t := Twilio{Credentials: twiliogo.Credentials{
		AccountSID: e("TWILIO_ACCOUNT_SID"), AuthToken: e("TWILIO_AUTH_TOKEN"),
		APIKey: e("TWILIO_API_KEY"), APISecret: e("TWILIO_API_SECRET"),
	}, APIURL: e.URL(p, "TWILIO_API_URL")}
	if t.AccountSID == "" && !required {
		return t
	}
	switch {
	case t.AccountSID == "":
		p.Add("TWILIO_ACCOUNT_SID is not set")
	case !taskrouter.ValidSID(t.AccountSID, taskrouter.PrefixAccount):
		p.Add("TWILIO_ACCOUNT_SID %q: want AC followed by 32 hex digits", t.AccountSID)
	}
	if (t.APIKey == "") != (t.APISecret == "") {
		p.Add("TWILIO_API_KEY and TWILIO_API_SECRET go together: set both or neither")
	}
	if t.AuthToken == "" && t.APIKey == "" {
		p.Add("TWILIO_AUTH_TOKEN is not set (nor TWILIO_API_KEY and TWILIO_API_SECRET)")
	}
	return t
}

// RestClient is the twilio-go client for these settings.
func (t Twilio) RestClient(timeout time.Duration) (*twiliogo.Client, error) {
	return twiliogo.New(t.Credentials, t.APIURL, timeout)
}

// LegTiming reads RING_TIMEOUT and AMD_TIMEOUT (seconds, or durations), Twilio's defaults when
// unset: the bridge places legs with them and bootstrap sizes the reservation timeout by them.
func (e Env) LegTiming(p *Problems) (ring, amd time.Duration) {
	return e.Duration(p, "RING_TIMEOUT", time.Second, taskrouter.DefaultRingTimeout),
		e.Duration(p, "AMD_TIMEOUT", time.Second, taskrouter.DefaultAMDTimeout)
}

// Confirmation reads AGENT_WHISPER (on or off), AGENT_CONFIRM_KEY (unset: no confirmation) and
// AGENT_CONFIRM_TIMEOUT (seconds): the bridge whispers and asks with them, and bootstrap leaves
// room for them in the reservation timeout.
func (e Env) Confirmation(p *Problems) (whisper bool, key string, timeout time.Duration) {
	switch v := strings.ToLower(e("AGENT_WHISPER")); v {
	case "", "off", "false", "0":
	case "on", "true", "1":
		whisper = true
	default:
		p.Add("AGENT_WHISPER %q: want on or off", e("AGENT_WHISPER"))
	}
	return whisper, e("AGENT_CONFIRM_KEY"), e.Duration(p, "AGENT_CONFIRM_TIMEOUT", time.Second, taskrouter.DefaultConfirmTimeout)
}

// ConfirmTime is the time the whisper and confirmation add to an agent leg (0 when off).
func (e Env) ConfirmTime(p *Problems) time.Duration {
	whisper, key, timeout := e.Confirmation(p)
	return taskrouter.Options{Whisper: whisper, ConfirmKey: key, ConfirmTimeout: timeout}.ConfirmTime()
}

// optionVars names the variable behind each taskrouter.Options field.
var optionVars = map[string]string{
	"MachineDetection": "AMD_MODE", "RingTimeout": "RING_TIMEOUT", "AMDTimeout": "AMD_TIMEOUT",
	"UnknownAnswer": "UNKNOWN_ANSWER", "CallerID": "CALLER_ID", "URLs": "PUBLIC_BASE_URL",
	"ConfirmKey": "AGENT_CONFIRM_KEY", "ConfirmTimeout": "AGENT_CONFIRM_TIMEOUT", "RestAfter": "REST_AFTER_MISSES",
	"RestActivitySID": "REST_ACTIVITY", "RestFor": "REST_COOLDOWN", "ReturnActivitySID": "REST_RETURN_ACTIVITY",
}

// OptionError rewrites a *taskrouter.OptionError to name the variable a user sets.
func OptionError(err error) error {
	var oe *taskrouter.OptionError
	if errors.As(err, &oe) {
		if name, ok := optionVars[oe.Option]; ok {
			return fmt.Errorf("%s %q: %s", name, fmt.Sprint(oe.Value), oe.Want)
		}
	}
	return err
}
