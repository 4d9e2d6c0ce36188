package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"queuebridge/sandbox/voice"
)

// legBook decides who answers each agent leg the bridge places, at the moment it places it,
// and remembers it by the leg's call SID. It sits between the bridge and the sandbox (the
// app's TwilioVia hook) as a reverse proxy: on Calls.create it scripts the far end of the
// number being dialed, then forwards the request unchanged. Each agent draws from their own
// random stream, so the k-th leg to an agent always gets the k-th draw whatever the timing.
type legBook struct {
	agents map[string]int // number → agent index
	day    *day
	now    func() time.Duration // offset into the day
	set    func(number string, p voice.Persona)

	// moved is set when the bridge moved a worker to another activity with a reject (its
	// NOANSWER_ACTIVITY): the day then looks at the agents' activities once quiescent.
	moved atomic.Bool

	mu     sync.Mutex
	rands  map[int]*rand.Rand
	bySid  map[string]legRecord
	placed int
	errs   []error
	srv    *http.Server
}

// legRecord is what the book knows of one agent leg.
type legRecord struct {
	Agent int
	Kind  string
}

func newLegBook(d *day, now func() time.Duration, set func(string, voice.Persona)) *legBook {
	b := &legBook{agents: map[string]int{}, day: d, now: now, set: set, rands: map[int]*rand.Rand{}, bySid: map[string]legRecord{}}
	for i, a := range d.Agents {
		b.agents[a.Number] = i
	}
	return b
}

// start serves the proxy in front of the sandbox and returns its URL (app.SandboxSetup.TwilioVia).
func (b *legBook) start(sandboxURL string) (string, error) {
	target, err := url.Parse(sandboxURL)
	if err != nil {
		return "", fmt.Errorf("sandbox URL %q: %w", sandboxURL, err)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite:        func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.Host = target.Host },
		ModifyResponse: b.response,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("leg proxy: %w", err)
	}
	b.srv = &http.Server{Handler: b.intercept(proxy), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = b.srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

func (b *legBook) close() {
	if b.srv != nil {
		_ = b.srv.Close()
	}
}

func isCreateCall(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/Calls.json")
}

func isReservationUpdate(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.Contains(r.URL.Path, "/Reservations/")
}

// intercept scripts the dialed agent's phone before the Calls.create reaches the sandbox, and
// notes a reject that moves the worker.
func (b *legBook) intercept(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isCreateCall(r) || isReservationUpdate(r) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			form, err := url.ParseQuery(string(body))
			switch {
			case err != nil:
			case isCreateCall(r):
				if kind, ok := b.script(form.Get("To")); ok {
					r.Header.Set("X-Simday-Leg", kind)
				}
			case form.Get("WorkerActivitySid") != "":
				b.moved.Store(true)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// takeMoved reports whether a worker was moved since the last call.
func (b *legBook) takeMoved() bool { return b.moved.Swap(false) }

// script draws who answers the agent's phone now and sets it as the number's persona.
func (b *legBook) script(to string) (string, bool) {
	i, ok := b.agents[to]
	if !ok {
		return "", false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.rands[i]
	if r == nil {
		r = newRand(b.day.Seed, streamLegs+uint64(i))
		b.rands[i] = r
	}
	d := legPersona(r, b.day.Agents[i], b.now(), b.day.AMD)
	b.set(to, d.Persona)
	return d.Kind, true
}

// response records the SID of a leg the sandbox created.
func (b *legBook) response(resp *http.Response) error {
	kind := resp.Request.Header.Get("X-Simday-Leg")
	if kind == "" || !isCreateCall(resp.Request) || resp.StatusCode != http.StatusCreated {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var call struct {
		Sid string `json:"sid"`
		To  string `json:"to"`
	}
	if err == nil {
		err = json.Unmarshal(body, &call)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil || call.Sid == "" {
		b.errs = append(b.errs, fmt.Errorf("reading a created leg: %v", errors.Join(err, errors.New("no sid"))))
		return nil
	}
	b.bySid[call.Sid] = legRecord{Agent: b.agents[call.To], Kind: kind}
	b.placed++
	return nil
}

// leg returns what the book knows of a leg.
func (b *legBook) leg(sid string) (legRecord, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.bySid[sid]
	return l, ok
}

func (b *legBook) problems() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return errors.Join(b.errs...)
}
