package handlers_test

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/testkit"
	"queuebridge/store/storetest"
	"queuebridge/taskrouter"
)

// Storage faults: while the database cannot make writes durable, no webhook that needs a write
// is answered 2xx (Twilio retries a 5xx, thanks to the URL overrides), /readyz answers 503 with
// the reason, and once writes succeed again the re-delivered webhooks are processed and every
// reservation resolves: one agent leg each, none lost.

// readyz returns /readyz's status and body (on the test's goroutine: it fails the test).
func (h *harness) readyz() (int, string) {
	h.t.Helper()
	status, body, err := h.tryReadyz()
	require.NoError(h.t, err)
	return status, body
}

// tryReadyz is readyz for a polled condition, which runs off the test's goroutine (and may
// still run as the harness closes): an error is returned, not a failure.
func (h *harness) tryReadyz() (int, string, error) {
	resp, err := http.Get(h.srv.URL + "/readyz")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// waitReady waits until /readyz answers want, and returns its body.
func (h *harness) waitReady(want int) string {
	h.t.Helper()
	// Polled on the test's goroutine: the last answer is what the failure reports (Eventually's
	// message arguments would be evaluated before the first poll).
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, body, err := h.tryReadyz()
		if err == nil && status == want {
			return body
		}
		if time.Now().After(deadline) {
			require.Failf(h.t, "/readyz never answered as expected", "want %d, last: %d %q (%v)", want, status, body, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answerForm is the agent leg's TwiML request once AMD has decided.
func answerForm(call, answeredBy string) url.Values {
	return url.Values{"CallSid": {call}, "AccountSid": {accountSID}, "CallStatus": {"in-progress"},
		"Direction": {"outbound-api"}, "AnsweredBy": {answeredBy}, "MachineDetectionDuration": {"1800"}}
}

// refused sends each webhook and checks none is acknowledged.
func (h *harness) refused(hooks ...testkit.Signed) {
	h.t.Helper()
	for _, s := range hooks {
		status, body := h.hooks.Send(h.t, s)
		assert.GreaterOrEqual(h.t, status, 500, "%s answered %d %s during the outage: acknowledged but not durable", s.Target, status, body)
	}
}

// ringing runs a reservation to its agent leg ringing, with the database healthy.
func (h *harness) ringing() (res, string) {
	h.t.Helper()
	r := newRes()
	h.sendEvent("reservation.created", r)
	call := h.waitCall(r)
	return r, call
}

func TestWebhooksRefusedWhileDatabaseReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "qb.db")
	recoverableOutage(t, path, func() func() { return storetest.Immutable(t, path, path+"-wal") })
}

func TestWebhooksRefusedWhileDiskFull(t *testing.T) {
	dir := storetest.Tmpfs(t, "8m")
	recoverableOutage(t, filepath.Join(dir, "qb.db"), func() func() { return storetest.Fill(t, dir) })
}

// recoverableOutage runs the bridge on path through an outage that fault starts and the
// function it returns ends: three webhooks that each need a write (a new reservation, a human
// answering, an agent leg not answered) are refused while it lasts and processed when Twilio
// delivers them again after it.
func recoverableOutage(t *testing.T, path string, fault func() (recover func())) {
	var log testkit.SyncBuffer
	h := newHarness(t, withDB(path), withLog(&log))
	r1, call1 := h.ringing()
	r3, call3 := h.ringing()
	h.waitIdle()
	status, body := h.readyz()
	require.Equal(t, http.StatusOK, status, body)

	recover := fault()
	r2 := newRes()
	created2 := h.hooks.Sign("/taskrouter/events", event("reservation.created", r2))
	answer1 := h.hooks.Sign(dialQueuePath(r1), answerForm(call1, "human"))
	noAnswer3 := h.hooks.Sign("/status-callback?reservation="+r3.SID,
		url.Values{"CallSid": {call3}, "CallStatus": {"no-answer"}, "AccountSid": {accountSID}})
	h.refused(created2, answer1, noAnswer3)
	assert.Contains(t, h.waitReady(http.StatusServiceUnavailable), "not ready: database writes fail")
	h.refused(created2) // Twilio's retry during the outage: refused again
	assert.Len(t, h.tw.Requests("create_call"), 2, "no agent leg for a reservation that was not stored")
	assert.Empty(t, h.tw.Requests("update_reservation"))
	assert.Contains(t, log.String(), "level=ERROR msg=\"database writes fail")

	recover()
	h.waitReady(http.StatusOK)
	status, body = h.hooks.Send(t, created2)
	require.Equal(t, http.StatusOK, status, body)
	status, body = h.hooks.Send(t, answer1)
	require.Equal(t, http.StatusOK, status, body)
	assertConnects(t, parseTwiML(t, body), r1)
	status, body = h.hooks.Send(t, noAnswer3)
	require.Equal(t, http.StatusNoContent, status, body)
	call2 := h.waitCall(r2)
	assert.Equal(t, []string{"Hangup"}, h.answer(r2, call2, "machine_start").verbs())
	h.sendEvent("reservation.accepted", r1)
	h.waitIdle()

	assert.Equal(t, taskrouter.StateAccepted, h.reservation(r1).State)
	assert.Equal(t, taskrouter.StateRejected, h.reservation(r2).State)
	assert.Equal(t, taskrouter.StateRejected, h.reservation(r3).State)
	assert.Len(t, h.tw.Requests("create_call"), 3, "one agent leg per reservation")
	assert.Len(t, h.tw.Requests("update_reservation"), 2, "r2 and r3 rejected, once each")
}

// A removed database directory cannot recover in place: the bridge refuses every webhook and
// stays not ready (past the probe's interval too) until it restarts on a restored database,
// where the work Twilio delivers again is processed.
func TestWebhooksRefusedAfterDatabaseDirectoryRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.Mkdir(dir, 0o700))
	path := filepath.Join(dir, "qb.db")
	var log testkit.SyncBuffer
	h := newHarness(t, withDB(path), withLog(&log))
	h.ringing()
	h.waitIdle()

	require.NoError(t, os.RemoveAll(dir))
	r2 := newRes()
	created2 := h.hooks.Sign("/taskrouter/events", event("reservation.created", r2))
	h.refused(created2)
	status, body := h.readyz()
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Contains(t, body, "not ready: database file removed or replaced while open")
	assert.Contains(t, log.String(), "level=ERROR")
	assert.Contains(t, log.String(), "path="+path)

	require.NoError(t, os.Mkdir(dir, 0o700)) // the directory back, but not the file the bridge holds
	assert.Never(t, func() bool { status, _, _ := h.tryReadyz(); return status == http.StatusOK },
		1500*time.Millisecond, 100*time.Millisecond, "ready again although writes go to an unlinked file")
	h.refused(created2)
	assert.Len(t, h.tw.Requests("create_call"), 1, "no agent leg for a reservation that was not stored")

	h.close()
	again := newHarness(t, withDB(path), withTwilio(h.tw))
	again.waitReady(http.StatusOK)
	status, body = again.hooks.Send(t, created2)
	require.Equal(t, http.StatusOK, status, body)
	call2 := again.waitCall(r2)
	assertConnects(t, again.answer(r2, call2, "human"), r2)
	again.sendEvent("reservation.accepted", r2)
	assert.Equal(t, taskrouter.StateAccepted, again.reservation(r2).State)
	assert.Len(t, h.tw.Requests("create_call"), 2, "one agent leg for the re-delivered reservation")
}
