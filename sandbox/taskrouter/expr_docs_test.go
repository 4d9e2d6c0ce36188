package taskrouter

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	trapi "github.com/twilio/twilio-go/rest/taskrouter/v1"
)

// Twilio, "Using TaskRouter Expressions": keys use "dot notation to reference sub-properties and
// square brackets to reference array indices. If the document does not contain the requested
// key, it resolves to NULL." Given {"string_const":"foo","object":{"array":["a","b","c"],
// "attr":"bar"}}, object.array[2] resolves to "c".
func TestExpressionArrayIndices(t *testing.T) {
	var task map[string]any
	require.NoError(t, json.Unmarshal([]byte(`{"string_const":"foo","object":{"array":["a","b","c"],"attr":"bar"},
		"languages":["en","es"],"calls":[{"from":"+1555","tags":["vip"]}],"matrix":[[1,2],[3,4]]}`), &task))
	worker := map[string]any{"languages": []any{"es", "en"}, "skills": []any{map[string]any{"name": "sales", "level": 3.0}}}
	cases := []struct {
		expr       string
		workerSide bool
		want       bool
	}{
		{`object.array[2] == "c"`, false, true},
		{`object.array[0] == "c"`, false, false},
		{`object.attr == "bar" AND object.array[1] == "b"`, false, true},
		{`languages[0] == "en"`, false, true},
		{`task.languages[0] == "en"`, false, true},
		{`languages[1] IN ["es", "pt"]`, false, true},
		{`calls[0].from == "+1555"`, false, true},
		{`calls[0].tags HAS "vip"`, false, true},
		{`matrix[1][0] == 3`, false, true},
		// Past the end, or indexing what is not an array: NULL.
		{`object.array[3] == "c"`, false, false},
		{`object.array[3] == null`, false, true},
		{`object.attr[0] == "b"`, false, false},
		{`string_const[0] == null`, false, true},
		// Worker side: task.x[i] and worker attributes with indices.
		{`languages[0] == task.languages[1]`, true, true},
		{`worker.languages[1] == task.languages[0]`, true, true},
		{`skills[0].name == "sales" AND skills[0].level >= 3`, true, true},
		// An array literal after a key is still a literal, not an index.
		{`languages HAS ["en"]`, true, false},
		{`task.string_const IN ["foo", "x"]`, true, true},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			e, err := parseExpr(c.expr)
			require.NoError(t, err)
			assert.Equal(t, c.want, e.eval(&exprEnv{workerSide: c.workerSide, task: task, worker: worker}))
		})
	}
}

// "Hyphens are not supported in TaskRouter expressions" (Using TaskRouter Expressions): a
// hyphenated key is refused, in a workflow, a queue's TargetWorkers and a list filter alike; a
// hyphen inside a string constant or a negative number is fine.
func TestExpressionHyphenatedKeysRefused(t *testing.T) {
	for _, src := range []string{`customer-tier == "gold"`, `task.caller-id == "x"`, `skills HAS "a" AND x-y == 1`, `a[0]-b == 1`} {
		_, err := parseExpr(src)
		require.Error(t, err, src)
		assert.Contains(t, err.Error(), "hyphens are not supported", src)
	}
	for _, src := range []string{`language == "en-US"`, `priority > -1`, `tags HAS 'follow-up'`} {
		_, err := parseExpr(src)
		assert.NoError(t, err, src)
	}

	h := newHarness(t)
	h.workspace("")
	_, err := h.tr.CreateTaskQueue(h.ws, (&trapi.CreateTaskQueueParams{}).SetFriendlyName("q").SetTargetWorkers(`contact-uri != ""`))
	restError(t, err, http.StatusBadRequest, 20001)
	q := h.queue("q", "")
	b, _ := json.Marshal(map[string]any{"task_routing": map[string]any{"filters": []any{
		map[string]any{"expression": `caller-type == "vip"`, "targets": []any{map[string]any{"queue": q}}}}}})
	_, err = h.tr.CreateWorkflow(h.ws, (&trapi.CreateWorkflowParams{}).SetFriendlyName("wf").SetConfiguration(string(b)))
	restError(t, err, http.StatusBadRequest, 20001)
	assert.Contains(t, err.Error(), "hyphens are not supported")
	_, err = h.tr.ListWorker(h.ws, (&trapi.ListWorkerParams{}).SetTargetWorkersExpression(`team-name == "a"`))
	restError(t, err, http.StatusBadRequest, 20001)
}

// "Activity Based Routing": target expressions may name worker.activity_name (the friendly name
// of the worker's Activity) and worker.activity_sid, with == or IN. Here two activities are
// available; the VIP target takes only workers in "High Value Tasks".
func TestTargetExpressionOnWorkerActivityName(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	hv, err := h.tr.CreateActivity(h.ws, (&trapi.CreateActivityParams{}).SetFriendlyName("High Value Tasks").SetAvailable(true))
	require.NoError(t, err)
	q := h.queue("q", "")
	wf := h.workflow(map[string]any{"task_routing": map[string]any{"filters": []any{
		map[string]any{"expression": "vip == true", "targets": []any{
			map[string]any{"queue": q, "expression": `worker.activity_name IN ['High Value Tasks']`}}},
		map[string]any{"expression": "1==1", "targets": []any{
			map[string]any{"queue": q, "expression": `worker.activity_sid == '` + h.available + `'`}}},
	}}}, 0)
	general := h.worker("general", nil, h.available)
	vip := h.task(wf, map[string]any{"vip": true})
	assert.Empty(t, h.reservations(vip), "the only available worker is not in High Value Tasks")

	special := h.worker("special", nil, *hv.Sid)
	assert.Equal(t, special, *h.pendingReservation(vip).WorkerSid)
	plain := h.task(wf, nil)
	assert.Equal(t, general, *h.pendingReservation(plain).WorkerSid)

	// The Workers list's TargetWorkersExpression sees the same fields.
	ws, err := h.tr.ListWorker(h.ws, (&trapi.ListWorkerParams{}).SetTargetWorkersExpression(`worker.activity_name == "High Value Tasks"`))
	require.NoError(t, err)
	require.Len(t, ws, 1)
	assert.Equal(t, special, *ws[0].Sid)
}

// worker.activity_name is the worker's field even when her attributes hold a key of that name;
// a plain activity_name is her attribute when she has one (docs silent: the sandbox's choice).
func TestWorkerFieldsAgainstAttributes(t *testing.T) {
	attrs := map[string]any{"activity_name": "from attributes"}
	fields := map[string]any{"activity_name": "Available", "sid": "WK1", "friendly_name": "alice", "activity_sid": "WA1"}
	env := &exprEnv{workerSide: true, worker: attrs, fields: fields, task: map[string]any{}}
	for src, want := range map[string]bool{
		`worker.activity_name == "Available"`:     true,
		`activity_name == "from attributes"`:      true,
		`worker.sid == "WK1"`:                     true,
		`friendly_name == "alice"`:                true,
		`worker.activity_sid IN ["WA1", "WA2"]`:   true,
		`task.activity_name == "Available"`:       false,
		`worker.activity_name == "Offline"`:       false,
		`worker.friendly_name CONTAINS "ali"`:     true,
		`worker.activity_name.x == null`:          true,
		`worker.activity_name != "Unavailable"`:   true,
		`worker.activity_name NOT IN ["Offline"]`: true,
	} {
		e, err := parseExpr(src)
		require.NoError(t, err, src)
		assert.Equal(t, want, e.eval(env), src)
	}
}
