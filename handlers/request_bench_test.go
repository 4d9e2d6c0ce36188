package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"queuebridge/internal/app"
	"queuebridge/internal/config"
	"queuebridge/internal/testkit"
	"queuebridge/taskrouter"
	"queuebridge/twiliogo"
)

// Whole requests through the echo handler, in process (no sockets): signature check, parsing,
// the bridge's decision, the durable commit, and the answer.
//
//	go test ./handlers -run '^$' -bench Request

type benchServer struct {
	db    app.Store
	hooks testkit.Webhooks
}

// newBenchServer wires the real store and bridge without a dispatcher: jobs stay queued, Twilio
// is never called.
func newBenchServer(b *testing.B) *benchServer {
	b.Helper()
	a, err := app.New(context.Background(), app.Config{
		Twilio:        config.Twilio{Credentials: twiliogo.Credentials{AccountSID: accountSID, AuthToken: authToken}},
		PublicBaseURL: publicBase, DatabaseURL: filepath.Join(b.TempDir(), "bench.db"),
	}, app.WithoutStartupChecks(), app.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	return &benchServer{db: a.Store, hooks: testkit.Webhooks{Token: authToken, Base: publicBase, Handler: a.Handler}}
}

// do sends one request, built and signed before the clock starts, in process (no sockets).
func (s *benchServer) do(b *testing.B, r testkit.Signed, want int) {
	if code, body := s.hooks.Send(b, r); code != want {
		b.Errorf("%s: status %d, want %d: %s", r.Target, code, want, body)
	}
}

// ringing stores n reservations whose agent leg rings, as the dispatcher leaves them, and
// returns each with its call SID.
func (s *benchServer) ringing(b *testing.B, n int) ([]res, []string) {
	b.Helper()
	rs, calls := make([]res, n), make([]string, n)
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 32 {
				rs[i], calls[i] = newRes(), testkit.SID("CA")
				now := time.Now()
				_, _, err := s.db.UpdateReservation(context.Background(), rs[i].SID, rs[i].Task, "", func(taskrouter.Snapshot) (taskrouter.Change, error) {
					return taskrouter.Change{Reservation: &taskrouter.Reservation{SID: rs[i].SID, TaskSID: rs[i].Task,
						WorkspaceSID: workspaceSID, WorkerSID: rs[i].Worker, ContactURI: agentNumber, CallerID: callerNumber,
						State: taskrouter.StateRinging, CallSID: calls[i], CallStatus: taskrouter.CallRinging,
						CreatedAt: now, UpdatedAt: now, DialingAt: now, Deadline: now.Add(2 * time.Minute)}}, nil
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return rs, calls
}

func (s *benchServer) answerRequest(r res, call string) testkit.Signed {
	return s.hooks.Sign(dialQueuePath(r), url.Values{"CallSid": {call}, "AccountSid": {accountSID}, "CallStatus": {"in-progress"},
		"Direction": {"outbound-api"}, "AnsweredBy": {"human"}, "MachineDetectionDuration": {"1800"},
		"From": {callerNumber}, "To": {agentNumber}, "ApiVersion": {"2010-04-01"}})
}

// answers are n signed answers of a human on n ringing agent legs.
func (s *benchServer) answers(b *testing.B, n int) []testkit.Signed {
	rs, calls := s.ringing(b, n)
	reqs := make([]testkit.Signed, n)
	for i := range reqs {
		reqs[i] = s.answerRequest(rs[i], calls[i])
	}
	return reqs
}

// creates are n signed reservation.created events, each of a new reservation.
func (s *benchServer) creates(n int) []testkit.Signed {
	reqs := make([]testkit.Signed, n)
	for i := range reqs {
		reqs[i] = s.hooks.Sign("/taskrouter/events", event("reservation.created", newRes()))
	}
	return reqs
}

// serial times sending the requests one after the other.
func (s *benchServer) serial(b *testing.B, reqs []testkit.Signed) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s.do(b, reqs[i%len(reqs)], http.StatusOK)
	}
}

// parallel times sending the requests 8 per CPU at once: the commits are grouped.
func (s *benchServer) parallel(b *testing.B, reqs []testkit.Signed) {
	next := make(chan testkit.Signed, len(reqs))
	for _, r := range reqs {
		next <- r
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.do(b, <-next, http.StatusOK)
		}
	})
}

func BenchmarkRequest(b *testing.B) {
	// A human answers a ringing agent leg: ringing → bridging, committed, TwiML <Dial><Queue>.
	b.Run("dial-queue/answer", func(b *testing.B) {
		s := newBenchServer(b)
		s.serial(b, s.answers(b, b.N))
	})
	// The same with 16 requests at once: the commits are grouped.
	b.Run("dial-queue/answer-parallel", func(b *testing.B) {
		s := newBenchServer(b)
		s.parallel(b, s.answers(b, b.N))
	})
	// Twilio retries the answer: nothing changes, the same TwiML.
	b.Run("dial-queue/retry", func(b *testing.B) {
		s := newBenchServer(b)
		req := s.answers(b, 1)
		s.do(b, req[0], http.StatusOK)
		s.serial(b, req)
	})
	// reservation.created: the reservation and its dial job committed before the 200.
	b.Run("reservation.created", func(b *testing.B) {
		s := newBenchServer(b)
		s.serial(b, s.creates(b.N))
	})
	b.Run("reservation.created-parallel", func(b *testing.B) {
		s := newBenchServer(b)
		s.parallel(b, s.creates(b.N))
	})
}
