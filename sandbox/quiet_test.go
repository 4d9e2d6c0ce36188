package sandbox_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	trapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"queuebridge/sandbox"
	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/voice"
)

// TestSettleWaitsForWebhooksAndSeesNewWork: Settle returns only once the application answered,
// and the started count moves whenever the sandbox sets something in motion.
func TestSettleWaitsForWebhooksAndSeesNewWork(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	sb, err := sandbox.New(sandbox.Config{Clock: clk})
	require.NoError(t, err)
	require.NoError(t, sb.Start())
	t.Cleanup(func() { _ = sb.Close() })

	entered, gate := make(chan struct{}, 1), make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-gate
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(`<Response><Pause length="30"/></Response>`))
	}))
	t.Cleanup(func() { release(); app.Close() })
	require.True(t, sb.Voice().SetVoiceURL(sandbox.DefaultNumber, app.URL+"/voice", "POST"))
	sb.SetPersona("+15550107001", voice.Human(0, 0))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	idle, err := sb.Settle(ctx)
	require.NoError(t, err)

	_, err = sb.PlaceCall(ctx, "+15550107001", sandbox.DefaultNumber)
	require.NoError(t, err)
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		require.FailNow(t, "the number's VoiceUrl was never requested")
	}
	n, started := sb.Activity()
	assert.Positive(t, n, "the TwiML request is in flight")
	assert.Greater(t, started, idle, "placing the call started work")
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	_, err = sb.Settle(short)
	assert.Error(t, err, "not settled while the application has not answered")

	release()
	settled, err := sb.Settle(ctx)
	require.NoError(t, err)
	n, now := sb.Activity()
	assert.Zero(t, n, "the call pauses on the clock")
	assert.Equal(t, settled, now)

	clk.Step() // the pause ends: the call asks for more TwiML (none: it hangs up)
	_, err = sb.Settle(ctx)
	require.NoError(t, err)
	_, after := sb.Activity()
	assert.Greater(t, after, now, "the timer set work in motion")
}

// TestSettleWaitsForEventCallbacks: TaskRouter's event callbacks count as the sandbox's work.
func TestSettleWaitsForEventCallbacks(t *testing.T) {
	clk := clock.NewManual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	sb, err := sandbox.New(sandbox.Config{Clock: clk})
	require.NoError(t, err)
	require.NoError(t, sb.Start())
	t.Cleanup(func() { _ = sb.Close() })
	gate := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-gate
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(func() { release(); app.Close() })

	tr := restClient(t, sb).TaskrouterV1
	ws, err := tr.CreateWorkspace((&trapi.CreateWorkspaceParams{}).SetFriendlyName("quiet").SetEventCallbackUrl(app.URL + "/events"))
	require.NoError(t, err)
	q, err := tr.CreateTaskQueue(*ws.Sid, (&trapi.CreateTaskQueueParams{}).SetFriendlyName("q"))
	require.NoError(t, err)
	wf, err := tr.CreateWorkflow(*ws.Sid, (&trapi.CreateWorkflowParams{}).SetFriendlyName("wf").
		SetConfiguration(`{"task_routing":{"filters":[],"default_filter":{"queue":"`+*q.Sid+`"}}}`))
	require.NoError(t, err)
	_, before := sb.Activity()
	_, err = tr.CreateTask(*ws.Sid, (&trapi.CreateTaskParams{}).SetWorkflowSid(*wf.Sid))
	require.NoError(t, err)
	n, started := sb.Activity()
	assert.Positive(t, n, "task.created waits for the application")
	assert.Greater(t, started, before)
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	_, err = sb.Settle(short)
	assert.Error(t, err, "not settled while an event is unanswered")
	release()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = sb.Settle(ctx)
	require.NoError(t, err)
	n, _ = sb.Activity()
	assert.Zero(t, n)
}
