package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAPIKeyAuthenticatesAndTheAccountStaysInPaths(t *testing.T) {
	b := newBootstrapTest(t)
	b.env["TWILIO_API_KEY"] = "SK0123456789abcdef0123456789abcdef"
	b.env["TWILIO_API_SECRET"] = "secret0123"
	b.env["TWILIO_AUTH_TOKEN"] = ""
	_, _, err := b.run("", "apply", "--yes")
	require.NoError(t, err)
	users := map[string]bool{}
	for _, r := range b.twilio.Requests() {
		users[r.User] = true
	}
	assert.Equal(t, map[string]bool{"SK0123456789abcdef0123456789abcdef": true}, users)
	assert.Contains(t, b.writes(), "POST /2010-04-01/Accounts/"+testAccount+"/IncomingPhoneNumbers/PN0123456789abcdef0123456789abcdef.json")
}
