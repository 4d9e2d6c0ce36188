package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// stats collects the latency of every request (and of every created→CreateCall) by name. Runs
// are bounded in count and time, so keeping every sample is affordable and percentiles exact.
type stats struct {
	mu      sync.Mutex
	series  map[string]*series
	errMsgs map[string]int
}

type series struct {
	samples []time.Duration
	errors  int
}

func newStats() *stats {
	return &stats{series: map[string]*series{}, errMsgs: map[string]int{}}
}

func (s *stats) get(name string) *series {
	x, ok := s.series[name]
	if !ok {
		x = &series{}
		s.series[name] = x
	}
	return x
}

// observe records one success.
func (s *stats) observe(name string, took time.Duration) {
	s.mu.Lock()
	x := s.get(name)
	x.samples = append(x.samples, took)
	s.mu.Unlock()
}

// fail records one failure; the first distinct messages are kept for the report.
func (s *stats) fail(name string, err error) {
	s.mu.Lock()
	s.get(name).errors++
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	if _, ok := s.errMsgs[msg]; ok || len(s.errMsgs) < 20 {
		s.errMsgs[msg]++
	}
	s.mu.Unlock()
}

// Line is one row of the report.
type Line struct {
	Name       string  `json:"name"`
	Count      int     `json:"count"`
	Errors     int     `json:"errors"`
	PerSecond  float64 `json:"per_second"`
	P50Millis  float64 `json:"p50_ms"`
	P90Millis  float64 `json:"p90_ms"`
	P99Millis  float64 `json:"p99_ms"`
	MaxMillis  float64 `json:"max_ms"`
	MeanMillis float64 `json:"mean_ms"`
}

// Report is the result of a run (-json prints it as is).
type Report struct {
	Scenario     string         `json:"scenario"`
	Target       string         `json:"target"`
	Rate         float64        `json:"rate_per_second"` // 0: full speed
	Connections  int            `json:"connections"`
	Preloaded    int            `json:"preloaded_reservations"`
	Seconds      float64        `json:"seconds"`
	Units        int            `json:"units"` // flows, events or answers sent
	Lines        []Line         `json:"lines"`
	CreatedCalls *Line          `json:"created_to_create_call,omitempty"`
	Errors       int            `json:"errors"`
	ErrorSamples map[string]int `json:"error_samples,omitempty"`
	RSSMiB       float64        `json:"rss_mib"`
	PeakRSSMiB   float64        `json:"peak_rss_mib"`
	InFlight     int            `json:"reservations_in_flight"`
	GoVersion    string         `json:"go_version"`
	// TwilioErrors and JobRetries are the in-process bridge's failed Twilio requests and
	// retried jobs (-1 with -url, where they are not known).
	TwilioErrors int64 `json:"bridge_twilio_errors"`
	JobRetries   int64 `json:"bridge_job_retries"`
	// Bare is the bare net/http handler measured with the same requests (dial-queue-retry).
	Bare *Line `json:"bare_handler,omitempty"`
	// SSE is what the operator page's streams received (-sse, -sse-stalled).
	SSE *SSEReport `json:"operator_streams,omitempty"`
}

// BareRatio is the bridge's throughput on the measured requests over the bare handler's
// (dial-queue-retry), 0 when not measured.
func (r Report) BareRatio() float64 {
	if r.Bare == nil || r.Bare.PerSecond == 0 || len(r.Lines) == 0 {
		return 0
	}
	return r.Lines[0].PerSecond / r.Bare.PerSecond
}

const createdToCall = "created→CreateCall"

func (s *stats) report(elapsed time.Duration) ([]Line, *Line, int, map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.series))
	for n := range s.series {
		names = append(names, n)
	}
	sort.Strings(names)
	var lines []Line
	var created *Line
	total := 0
	for _, n := range names {
		l := line(n, s.series[n], elapsed)
		total += l.Errors
		if n == createdToCall {
			created = &l
			continue
		}
		lines = append(lines, l)
	}
	errs := map[string]int{}
	for k, v := range s.errMsgs {
		errs[k] = v
	}
	return lines, created, total, errs
}

func line(name string, x *series, elapsed time.Duration) Line {
	l := Line{Name: name, Count: len(x.samples), Errors: x.errors}
	if elapsed > 0 {
		l.PerSecond = float64(len(x.samples)) / elapsed.Seconds()
	}
	if len(x.samples) == 0 {
		return l
	}
	sorted := slices.Clone(x.samples)
	slices.Sort(sorted)
	pct := func(p float64) float64 {
		i := int(p*float64(len(sorted))+0.5) - 1
		i = max(0, min(i, len(sorted)-1))
		return ms(sorted[i])
	}
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	l.P50Millis, l.P90Millis, l.P99Millis = pct(.50), pct(.90), pct(.99)
	l.MaxMillis = ms(sorted[len(sorted)-1])
	l.MeanMillis = ms(sum / time.Duration(len(sorted)))
	return l
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (r Report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r Report) writeTable(w io.Writer) error {
	rate := "full speed"
	if r.Rate > 0 {
		rate = fmt.Sprintf("%g/s", r.Rate)
	}
	fmt.Fprintf(w, "scenario %s at %s, %d connections, against %s; %d reservations preloaded\n",
		r.Scenario, rate, r.Connections, r.Target, r.Preloaded)
	fmt.Fprintf(w, "%d units in %.2fs; RSS %.1f MiB (peak %.1f MiB); %d reservations in flight at the end\n",
		r.Units, r.Seconds, r.RSSMiB, r.PeakRSSMiB, r.InFlight)
	if r.TwilioErrors >= 0 {
		fmt.Fprintf(w, "the bridge: %d failed Twilio requests, %d retried jobs\n", r.TwilioErrors, r.JobRetries)
	}
	if s := r.SSE; s != nil {
		fmt.Fprintf(w, "operator streams: %d read, %d stalled; the readers got %d patches and %d snapshots (%d coalesced or after falling behind), %.1f MiB; %d ended early\n",
			s.Readers, s.Stalled, s.Patches, s.Snapshots, s.Snapshots-int64(s.Readers), float64(s.Bytes)/(1<<20), s.Ended)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "request\tcount\terrors\tper s\tp50 ms\tp90 ms\tp99 ms\tmax ms\t")
	rows := r.Lines
	if r.CreatedCalls != nil {
		rows = append(slices.Clone(rows), *r.CreatedCalls)
	}
	if r.Bare != nil {
		rows = append(slices.Clone(rows), *r.Bare)
	}
	for _, l := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t\n",
			l.Name, l.Count, l.Errors, l.PerSecond, l.P50Millis, l.P90Millis, l.P99Millis, l.MaxMillis)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if ratio := r.BareRatio(); ratio > 0 {
		fmt.Fprintf(w, "\nthe bridge's retried answers: %.2f of the bare net/http handler's throughput\n", ratio)
	}
	if len(r.ErrorSamples) > 0 {
		fmt.Fprintf(w, "\n%d errors; samples:\n", r.Errors)
		for _, k := range slices.Sorted(maps.Keys(r.ErrorSamples)) {
			fmt.Fprintf(w, "  %dx %s\n", r.ErrorSamples[k], strings.TrimSpace(k))
		}
	}
	return nil
}
