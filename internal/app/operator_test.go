package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/handlers"
	"queuebridge/internal/app"
	"queuebridge/internal/config"
	"queuebridge/internal/testkit"
	"queuebridge/operator"
	"queuebridge/twiliogo"
)

// The operator page's environment: OPERATOR_TOKEN (long enough) and OPERATOR_SHOW_NUMBERS (a
// boolean); errors name the variable.
func TestOperatorConfiguration(t *testing.T) {
	load := func(vars map[string]string) (app.Config, error) {
		return app.LoadConfig(func(k string) string { return vars[k] })
	}
	c, err := load(map[string]string{"OPERATOR_TOKEN": "0123456789abcdef", "OPERATOR_SHOW_NUMBERS": "yes"})
	require.NoError(t, err)
	assert.Equal(t, app.OperatorConfig{Token: "0123456789abcdef", ShowNumbers: true}, c.Operator)
	c, err = load(nil)
	require.NoError(t, err)
	assert.Equal(t, app.OperatorConfig{}, c.Operator, "off, numbers masked")
	_, err = load(map[string]string{"OPERATOR_TOKEN": "short"})
	assert.ErrorContains(t, err, "OPERATOR_TOKEN is 5 characters long: want at least 16")
	_, err = load(map[string]string{"OPERATOR_SHOW_NUMBERS": "maybe"})
	assert.ErrorContains(t, err, `OPERATOR_SHOW_NUMBERS "maybe": want true or false`)
}

func operatorApp(t *testing.T, token string) (*httptest.Server, *app.App) {
	t.Helper()
	a, err := app.New(context.Background(), app.Config{
		Twilio: config.Twilio{
			Credentials: twiliogo.Credentials{AccountSID: testkit.Account, AuthToken: testkit.Token}, APIURL: testkit.NewTwilio(t).URL,
		},
		WorkspaceSID: workspace, PublicBaseURL: publicBase, DatabaseURL: filepath.Join(t.TempDir(), "q.db"),
		Operator: app.OperatorConfig{Token: token},
	}, app.WithoutStartupChecks(), app.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	require.NoError(t, err)
	t.Cleanup(func() { a.Close() })
	assert.Equal(t, token != "", a.Operator != nil, "the model exists only while the page is on")
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(srv.Close)
	return srv, a
}

// With an account and no OPERATOR_TOKEN the page is off: every route of it says how to turn
// it on. With a token, it answers 401 without it and serves the page with it; a TaskRouter
// event the bridge receives reaches the page's model.
func TestOperatorPageIsOffWithoutATokenOutsideTheSandbox(t *testing.T) {
	assert.Equal(t, operator.PathPage, handlers.PathOperator, "one path, two packages")
	assert.Equal(t, operator.PathEvents, handlers.PathOperatorEvents)
	assert.Equal(t, operator.PathLogin, handlers.PathOperatorLogin)
	assert.Equal(t, operator.PathLogout, handlers.PathOperatorLogout)

	off, _ := operatorApp(t, "")
	for _, path := range []string{handlers.PathOperator, handlers.PathOperatorEvents} {
		resp, err := http.Get(off.URL + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
		assert.Contains(t, string(body), "set OPERATOR_TOKEN")
	}
	resp, err := http.PostForm(off.URL+handlers.PathOperatorLogin, url.Values{"token": {"anything-at-all-0000"}})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	const token = "app-test-operator-token-000000"
	on, a := operatorApp(t, token)
	resp, err = http.Get(on.URL + handlers.PathOperator)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	req, err := http.NewRequest(http.MethodGet, on.URL+handlers.PathOperator, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, strings.Contains(string(body), "<title>queuebridge operator</title>"))

	hooks := testkit.Webhooks{Token: testkit.Token, Base: publicBase, URL: on.URL}
	status, _ := hooks.Post(t, handlers.PathEvents, url.Values{"EventType": {"task.created"}, "Sid": {testkit.SID("EV")},
		"WorkspaceSid": {workspace}, "TaskSid": {"WT00000000000000000000000000000042"}, "TaskAttributes": {`{"from":"+15550100042"}`}})
	require.Equal(t, http.StatusOK, status)
	calls := a.Operator.Snapshot().Calls
	require.Len(t, calls, 1, "the event reached the page's model")
	assert.Equal(t, "+1••••••0042", calls[0].Caller)
}
