package handlers

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"queuebridge/taskrouter"
)

// Metrics are queuebridge's Prometheus metrics. Labels are bounded: routes, event types, states,
// verdicts, operations; never SIDs or phone numbers.
type Metrics struct {
	registry      *prometheus.Registry
	requests      *prometheus.HistogramVec
	outcomes      *prometheus.CounterVec
	createdToDial prometheus.Histogram
	twilio        *prometheus.HistogramVec
	twilioErrors  *prometheus.CounterVec
	retries       *prometheus.CounterVec
}

// NewMetrics registers the metrics; outboxDepth, when set, is read at every scrape.
func NewMetrics(outboxDepth func(context.Context) (int, error)) *Metrics {
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
			Help: "Reservations by the state they ended in and why (outcome class).",
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
			Help: "Failed Twilio REST requests by operation and class (permanent, retryable, ambiguous).",
		}, []string{"operation", "class"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "queuebridge_job_retries_total",
			Help: "Jobs scheduled again after a failure, by kind.",
		}, []string{"kind"}),
	}
	reg.MustRegister(m.requests, m.outcomes, m.createdToDial, m.twilio, m.twilioErrors, m.retries,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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
		Outcome: func(state taskrouter.State, outcome string) {
			m.outcomes.WithLabelValues(string(state), outcomeClass(outcome)).Inc()
		},
		CallPlaced: func(d time.Duration) { m.createdToDial.Observe(d.Seconds()) },
		TwilioRequest: func(op string, took time.Duration, err error) {
			m.twilio.WithLabelValues(op).Observe(took.Seconds())
			if err != nil {
				class := map[taskrouter.ErrorClass]string{taskrouter.Permanent: "permanent", taskrouter.Retryable: "retryable", taskrouter.Ambiguous: "ambiguous"}[taskrouter.Classify(err)]
				m.twilioErrors.WithLabelValues(op, class).Inc()
			}
		},
		JobRetried: func(kind taskrouter.JobKind) { m.retries.WithLabelValues(string(kind)).Inc() },
	}
}

// outcomeClass folds an outcome's free text into a bounded label.
func outcomeClass(outcome string) string {
	for _, prefix := range []string{
		"bridged", "answered by human", "answered by machine_start", "answered by machine_end_beep",
		"answered by machine_end_silence", "answered by machine_end_other", "answered by fax", "answered by unknown",
		"no-answer", "busy", "failed", "canceled", "agent leg ended before the bridge", "dequeue failed",
		"reservation.timeout", "reservation.canceled", "reservation.rescinded", "rejected at TaskRouter",
		"task canceled", "worker has no usable contact_uri", "no usable caller ID", "Twilio refused the agent leg",
		"could not place the agent leg in time", "dial interrupted",
	} {
		if strings.HasPrefix(outcome, prefix) {
			return strings.ReplaceAll(prefix, " ", "_")
		}
	}
	return "other"
}
