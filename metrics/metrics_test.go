package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/taskrouter"
)

// scrape is what /metrics answers.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	body, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(body)
}

// TestErrorAndRetryCountersStartAtZero: before any traffic, every series of the error, retry
// and repair counters is exposed at 0, so that alerts on their rate see them from the start.
func TestErrorAndRetryCountersStartAtZero(t *testing.T) {
	text := scrape(t, New(nil))
	var want []string
	for _, op := range []string{"create_call", "list_calls", "end_call", "reject_reservation", "complete_task", "fetch_reservation", "fetch_call"} {
		for _, class := range []string{"ambiguous", "permanent", "retryable", "not_sent"} {
			want = append(want, `queuebridge_twilio_errors_total{class="`+class+`",operation="`+op+`"} 0`)
		}
	}
	for _, kind := range []string{"dial", "reject", "hangup", "complete_task"} {
		want = append(want, `queuebridge_job_retries_total{kind="`+kind+`"} 0`)
	}
	for _, r := range []string{"taskrouter_timeout", "taskrouter_canceled", "leg_no-answer", "leg_completed"} {
		want = append(want, `queuebridge_reconciler_repairs_total{repair="`+r+`"} 0`)
	}
	want = append(want, "queuebridge_caller_id_refused_total 0")
	for _, line := range want {
		assert.Contains(t, text, line+"\n")
	}
	assert.Regexp(t, `(?m)^queuebridge_build_info\{goversion="go[^"]+",revision="[^"]+",version="[^"]+"\} 1$`, text)
}

// value is a counter's current value.
func value(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}

// TestHooksCountOnTheInitialisedSeries: a failure counts on the series that was at 0.
func TestHooksCountOnTheInitialisedSeries(t *testing.T) {
	m := New(nil)
	h := m.Hooks()
	h.TwilioRequest("create_call", 0, taskrouter.Errorf(taskrouter.EInvalid, "boom"), taskrouter.Retryable)
	h.JobRetried(taskrouter.JobHangup)
	assert.Equal(t, 1.0, value(t, m.twilioErrors.WithLabelValues("create_call", "retryable")))
	assert.Equal(t, 0.0, value(t, m.twilioErrors.WithLabelValues("create_call", "permanent")))
	assert.Equal(t, 1.0, value(t, m.retries.WithLabelValues("hangup")))
	assert.Equal(t, 0.0, value(t, m.retries.WithLabelValues("dial")))
}

// TestLabelListsMatchTaskrouter keeps the pre-initialised label values in step with the names
// taskrouter reports: every b.twilio("op", …) of its source, every reservation status the
// reconciler repairs from, every final leg status.
func TestLabelListsMatchTaskrouter(t *testing.T) {
	files, err := filepath.Glob("../taskrouter/*.go")
	require.NoError(t, err)
	var src strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		src.Write(b)
	}
	var ops []string
	for _, m := range regexp.MustCompile(`b\.twilio\("([a-z_]+)"`).FindAllStringSubmatch(src.String(), -1) {
		if !slices.Contains(ops, m[1]) {
			ops = append(ops, m[1])
		}
	}
	require.NotEmpty(t, ops)
	assert.ElementsMatch(t, ops, twilioOperations, "operations named in taskrouter's b.twilio calls")

	block := regexp.MustCompile(`(?s)var reservationEvents = map\[string\]string\{(.*?)\n\}`).FindStringSubmatch(src.String())
	require.NotNil(t, block, "taskrouter's reservationEvents map")
	for _, m := range regexp.MustCompile(`"([a-z]+)":`).FindAllStringSubmatch(block[1], -1) {
		assert.Contains(t, repairLabels, "taskrouter_"+m[1])
	}
	for _, s := range []taskrouter.CallStatus{taskrouter.CallQueued, taskrouter.CallInitiated, taskrouter.CallRinging,
		taskrouter.CallInProgress, taskrouter.CallCompleted, taskrouter.CallBusy, taskrouter.CallFailed,
		taskrouter.CallNoAnswer, taskrouter.CallCanceled} {
		assert.Equal(t, s.Final(), slices.Contains(repairLabels, "leg_"+string(s)), "leg_%s", s)
	}
	assert.ElementsMatch(t, []taskrouter.JobKind{taskrouter.JobDial, taskrouter.JobReject, taskrouter.JobHangup, taskrouter.JobCompleteTask,
		taskrouter.JobRestWorker, taskrouter.JobReturnWorker}, jobKinds)
}

func TestBuildInfoLabels(t *testing.T) {
	cases := map[string]struct {
		bi                          *debug.BuildInfo
		ok                          bool
		version, revision, goVerPre string
	}{
		"stamped": {&debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "v1.2.3"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "false"}}},
			true, "v1.2.3", "abc123", "go1.99.1"},
		"dirty tree": {&debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}},
			true, "(devel)", "abc123-dirty", "go1.99.1"},
		"no build info": {nil, false, "unknown", "unknown", "go"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(buildInfo(tc.bi, tc.ok))
			mfs, err := reg.Gather()
			require.NoError(t, err)
			require.Len(t, mfs, 1)
			require.Len(t, mfs[0].GetMetric(), 1)
			got := map[string]string{}
			for _, l := range mfs[0].GetMetric()[0].GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			assert.Equal(t, tc.version, got["version"])
			assert.Equal(t, tc.revision, got["revision"])
			assert.True(t, strings.HasPrefix(got["goversion"], tc.goVerPre), got["goversion"])
			assert.Equal(t, 1.0, mfs[0].GetMetric()[0].GetGauge().GetValue())
		})
	}
}
