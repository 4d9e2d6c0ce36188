// Package metrics is queuebridge's Prometheus adapter: it implements the domain's hooks and the
// HTTP layer's request observer, and serves /metrics. Labels are bounded (routes, states, outcome
// kinds, operations); never SIDs or phone numbers.
package metrics

import (
	"context"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"queuebridge/taskrouter"
)

// Metrics are queuebridge's Prometheus metrics.
type Metrics struct {
	registry      *prometheus.Registry
	requests      *prometheus.HistogramVec
	outcomes      *prometheus.CounterVec
	createdToDial prometheus.Histogram
	twilio        *prometheus.HistogramVec
	twilioErrors  *prometheus.CounterVec
	retries       *prometheus.CounterVec
	callerID      prometheus.Counter
	repairs       *prometheus.CounterVec
	confirmations *prometheus.CounterVec
	rests         *prometheus.CounterVec
}

// New registers the metrics; outboxDepth, when set, is read at every scrape.
func New(outboxDepth func(context.Context) (int, error)) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		registry: reg,
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "queuebridge_http_request_duration_seconds",
			Help:    "Time queuebridge took to answer a request, by route and status.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"route", "status"}),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "queuebridge_reservations_total",
			Help: "Reservations by the state they ended in and why (outcome kind).",
		}, []string{"state", "outcome"}),
		createdToDial: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "queuebridge_created_to_call_seconds",
			Help:    "Time from reservation.created to the agent leg's Calls.create returning.",
			Buckets: []float64{.005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		twilio: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "queuebridge_twilio_request_duration_seconds",
			Help:    "Twilio REST request latency by operation.",
			Buckets: prometheus.DefBuckets,
		}, []string{"operation"}),
		twilioErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "queuebridge_twilio_errors_total",
			Help: "Failed Twilio REST requests by operation and class (permanent, retryable, not_sent, ambiguous).",
		}, []string{"operation", "class"}),
		callerID: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "queuebridge_caller_id_refused_total",
			Help: "Agent legs Twilio refused because the account neither owns nor verified their From (21210): fix CALLER_ID.",
		}),
		repairs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "queuebridge_reconciler_repairs_total",
			Help: "Updates the reconciler applied because a webhook never arrived, by what it learnt.",
		}, []string{"repair"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "queuebridge_job_retries_total",
			Help: "Jobs scheduled again after a failure, by kind.",
		}, []string{"kind"}),
		confirmations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "queuebridge_agent_confirmations_total",
			Help: "Agents' confirmations after the whisper (AGENT_CONFIRM_KEY), by result: confirmed, wrong_key_repeated, no_key, wrong_key, hung_up, taken.",
		}, []string{"result"}),
		rests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "queuebridge_worker_rests_total",
			Help: "Workers rested after REST_AFTER_MISSES missed calls in a row, returned after REST_COOLDOWN, or found moved on at its end.",
		}, []string{"event"}),
	}
	reg.MustRegister(m.requests, m.outcomes, m.createdToDial, m.twilio, m.twilioErrors, m.retries, m.callerID, m.repairs,
		m.confirmations, m.rests,
		buildInfo(debug.ReadBuildInfo()),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.preinitialise()
	if outboxDepth != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "queuebridge_outbox_jobs",
			Help: "Jobs queued or running in the outbox.",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			n, err := outboxDepth(ctx)
			if err != nil {
				return -1
			}
			return float64(n)
		}))
	}
	return m
}

// twilioOperations are the operations the bridge reports to Hooks.TwilioRequest (the names
// taskrouter gives its Twilio requests; a test checks the list against taskrouter's source).
var twilioOperations = []string{
	"create_call", "list_calls", "end_call", "reject_reservation", "complete_task", "fetch_reservation", "fetch_call",
	"update_worker", "fetch_worker",
}

// jobKinds are the jobs the dispatcher may retry.
var jobKinds = []taskrouter.JobKind{taskrouter.JobDial, taskrouter.JobReject, taskrouter.JobHangup, taskrouter.JobCompleteTask,
	taskrouter.JobRestWorker, taskrouter.JobReturnWorker}

// repairLabels are the reconciler's repair labels: a reservation status TaskRouter reported, or a
// final status of the agent leg.
var repairLabels = []string{
	"taskrouter_accepted", "taskrouter_wrapping", "taskrouter_completed", "taskrouter_rejected",
	"taskrouter_timeout", "taskrouter_canceled", "taskrouter_rescinded",
	"leg_completed", "leg_busy", "leg_failed", "leg_no-answer", "leg_canceled",
}

// preinitialise creates every series of the bounded-label error, retry and repair counters at
// 0, so that dashboards and alerts (rate, increase) see them before the first failure.
func (m *Metrics) preinitialise() {
	for _, op := range twilioOperations {
		for k := taskrouter.Ambiguous; k <= taskrouter.NotSent; k++ {
			m.twilioErrors.WithLabelValues(op, k.String())
		}
	}
	for _, kind := range jobKinds {
		m.retries.WithLabelValues(string(kind))
	}
	for _, r := range repairLabels {
		m.repairs.WithLabelValues(r)
	}
	for _, r := range taskrouter.ConfirmResults() {
		m.confirmations.WithLabelValues(r)
	}
	for _, e := range taskrouter.RestEvents() {
		m.rests.WithLabelValues(e)
	}
}

// buildInfo is queuebridge_build_info{version,revision,goversion} 1: which build is running.
// version is the main module's (go build stamps it from the VCS), revision the commit (with
// "-dirty" when the tree had changes), both "unknown" when the binary carries no build info.
func buildInfo(bi *debug.BuildInfo, ok bool) prometheus.Collector {
	version, revision, goVersion := "unknown", "unknown", runtime.Version()
	if ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty && revision != "unknown" {
			revision += "-dirty"
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "queuebridge_build_info",
		Help:        "Always 1: the running build's version, VCS revision and Go version.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": goVersion},
	})
	g.Set(1)
	return g
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// Observe records one HTTP request (Config.Observe).
func (m *Metrics) Observe(route string, status int, took time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Observe(took.Seconds())
}

// Hooks are the bridge's hooks feeding these metrics.
func (m *Metrics) Hooks() taskrouter.Hooks {
	return taskrouter.Hooks{
		Outcome: func(state taskrouter.State, outcome taskrouter.Outcome) {
			m.outcomes.WithLabelValues(string(state), outcome.Label()).Inc()
		},
		CallPlaced: func(d time.Duration) { m.createdToDial.Observe(d.Seconds()) },
		TwilioRequest: func(op string, took time.Duration, err error, failed taskrouter.FailureKind) {
			m.twilio.WithLabelValues(op).Observe(took.Seconds())
			if err != nil {
				m.twilioErrors.WithLabelValues(op, failed.String()).Inc()
			}
		},
		JobRetried:      func(kind taskrouter.JobKind) { m.retries.WithLabelValues(string(kind)).Inc() },
		CallerIDRefused: m.callerID.Inc,
		Repaired:        func(what string) { m.repairs.WithLabelValues(what).Inc() },
		Confirmation:    func(result string) { m.confirmations.WithLabelValues(result).Inc() },
		Rest:            func(event string) { m.rests.WithLabelValues(event).Inc() },
	}
}
