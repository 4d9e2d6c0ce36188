package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// The dial-queue-retry scenario measures the answer Twilio gets when it retries the agent leg's
// TwiML request for a reservation already decided (the first answer was sent; the retry must get
// the same TwiML and change nothing, so the bridge answers it from a read), against a bare
// net/http handler on the same machine, in the same run, with the same requests and
// connections: the ratio of their throughputs is what the bridge's signature check, parsing,
// read and TwiML cost against the least a Go HTTP server can do.

// bareName is the report line of the bare handler.
const bareName = "bare net/http handler"

// bareTwiML is what the bare handler answers: the size of the bridge's <Dial><Queue> answer.
const bareTwiML = `<?xml version="1.0" encoding="UTF-8"?><Response><Dial action="http://127.0.0.1/dial-queue?reservation=WR00000000000000000000000000000000&amp;task=WT00000000000000000000000000000000#ct=2000&amp;rt=4000&amp;tt=15000&amp;rc=3&amp;rp=ct,rt,5xx"><Queue reservationSid="WR00000000000000000000000000000000"></Queue></Dial></Response>`

// retryPhase answers every request once (not measured: the reservations become decided), then
// measures the bare handler with the same requests as the measured phase will send. It returns
// the bare handler's line.
func (g *generator) retryPhase(ctx context.Context, answers []signedRequest) (Line, error) {
	g.stats.Store(newStats())
	if err := g.answerAll(ctx, answers); err != nil {
		return Line{}, fmt.Errorf("answering each reservation once: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Line{}, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(bare)}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	st := newStats()
	g.stats.Store(st)
	_, elapsed := g.drive(ctx, len(answers), func(ctx context.Context, i int) {
		_, _ = g.sendTo(ctx, base, bareName, answers[i], http.StatusOK)
	})
	g.client.CloseIdleConnections()
	lines, _, errs, samples := st.report(elapsed)
	if errs > 0 {
		return Line{}, fmt.Errorf("the bare handler failed %d requests: %v", errs, samples)
	}
	if len(lines) != 1 {
		return Line{}, errors.New("the bare handler answered nothing")
	}
	return lines[0], nil
}

// bare reads the form, as any webhook handler must, and answers a fixed TwiML.
func bare(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	_, _ = io.WriteString(w, bareTwiML)
}

// answerAll sends every answer once, 64 at a time.
func (g *generator) answerAll(ctx context.Context, answers []signedRequest) error {
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		first atomic.Pointer[error]
	)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(len(answers)) && first.Load() == nil; i = next.Add(1) - 1 {
				if err := g.answer(ctx, answers[i], "Dial"); err != nil {
					first.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return ctx.Err()
}
