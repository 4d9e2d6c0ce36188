package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/taskrouter"
)

func vars(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestEnvReadsTheFileBehindTheEnvironment(t *testing.T) {
	file := filepath.Join(t.TempDir(), ".env")
	require.NoError(t, os.WriteFile(file, []byte("RING_TIMEOUT=25\nAMD_TIMEOUT=20\n"), 0o600))
	env, err := NewEnv(vars(map[string]string{"AMD_TIMEOUT": " 10 "}), file, false)
	require.NoError(t, err)
	assert.Equal(t, "25", env("RING_TIMEOUT"), "from the file")
	assert.Equal(t, "10", env("AMD_TIMEOUT"), "the environment wins, trimmed")
	assert.Equal(t, "7", env.With("AMD_TIMEOUT", "7")("AMD_TIMEOUT"), "a flag wins over both")
	assert.Equal(t, "10", env.With("AMD_TIMEOUT", "")("AMD_TIMEOUT"), "an unset flag changes nothing")
}

func TestEnvFileMissingOrMalformed(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.env")
	_, err := NewEnv(vars(nil), missing, true)
	assert.NoError(t, err, "the default .env may be absent")
	_, err = NewEnv(vars(nil), missing, false)
	assert.EqualError(t, err, "env file "+missing+" does not exist", "a file the user named must exist")

	bad := filepath.Join(t.TempDir(), ".env")
	require.NoError(t, os.WriteFile(bad, []byte("TWILIO_AUTH_TOKEN='s3cr3t\n"), 0o600))
	_, err = NewEnv(vars(nil), bad, true)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cr3t", "a parse error never shows the file's values")
}

func TestDurationTakesNumbersInUnitOrGoDurations(t *testing.T) {
	env := Env(vars(map[string]string{"A": "45", "B": "1m30s", "C": "1500", "D": "soon", "E": "-3"}))
	var p Problems
	assert.Equal(t, 45*time.Second, env.Duration(&p, "A", time.Second, 0))
	assert.Equal(t, 90*time.Second, env.Duration(&p, "B", time.Second, 0))
	assert.Equal(t, 1500*time.Millisecond, env.Duration(&p, "C", time.Millisecond, 0))
	assert.Equal(t, time.Minute, env.Duration(&p, "UNSET", time.Second, time.Minute))
	assert.Empty(t, p)
	env.Duration(&p, "D", time.Second, 0)
	env.Duration(&p, "E", time.Second, 0)
	assert.Equal(t, Problems{`D "soon": want a number of seconds or a duration such as 25s`, `E "-3": must not be negative`}, p)
	assert.ErrorContains(t, p.Err(), "configuration:\n  D \"soon\"")
}

func TestTwilioCredentialsAreChecked(t *testing.T) {
	good := map[string]string{"TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000001", "TWILIO_AUTH_TOKEN": "tok"}
	cases := map[string]struct {
		set  map[string]string
		want string
	}{
		"no account":    {map[string]string{"TWILIO_ACCOUNT_SID": ""}, "TWILIO_ACCOUNT_SID is not set"},
		"bad account":   {map[string]string{"TWILIO_ACCOUNT_SID": "ACnope"}, `TWILIO_ACCOUNT_SID "ACnope": want AC followed by 32 hex digits`},
		"no token":      {map[string]string{"TWILIO_AUTH_TOKEN": ""}, "TWILIO_AUTH_TOKEN is not set (nor TWILIO_API_KEY and TWILIO_API_SECRET)"},
		"key alone":     {map[string]string{"TWILIO_API_KEY": "SK1"}, "TWILIO_API_KEY and TWILIO_API_SECRET go together: set both or neither"},
		"relative api":  {map[string]string{"TWILIO_API_URL": "localhost:8081"}, `TWILIO_API_URL "localhost:8081": want an absolute http(s) URL`},
		"everything ok": {nil, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m := map[string]string{}
			for k, v := range good {
				m[k] = v
			}
			for k, v := range tc.set {
				m[k] = v
			}
			var p Problems
			tw := Env(vars(m)).Twilio(&p, true)
			if tc.want == "" {
				assert.Empty(t, p)
				assert.Equal(t, good["TWILIO_ACCOUNT_SID"], tw.AccountSID)
				return
			}
			require.Len(t, p, 1)
			assert.Contains(t, p[0], tc.want)
		})
	}
	var p Problems
	Env(vars(nil)).Twilio(&p, false)
	assert.Empty(t, p, "no account and none required: sandbox mode, nothing to check")
}

func TestOptionErrorNamesTheVariable(t *testing.T) {
	err := OptionError(&taskrouter.OptionError{Option: "RingTimeout", Value: 2 * time.Second, Want: "Twilio accepts 5 to 600 seconds"})
	assert.EqualError(t, err, `RING_TIMEOUT "2s": Twilio accepts 5 to 600 seconds`)
	other := errors.New("something else")
	assert.Equal(t, other, OptionError(other))
}
