package postgres_test

import (
	"context"
	"testing"
	"time"

	"queuebridge/internal/testkit"
	"queuebridge/store/postgres"
	"queuebridge/store/postgres/pgtest"
	"queuebridge/taskrouter"
)

// Benchmarks of the store's hot transitions on PostgreSQL (the server named by
// QUEUEBRIDGE_TEST_POSTGRES), to compare with the SQLite store's (store/bench_test.go):
//
//	go test ./store/postgres -run '^$' -bench . -benchtime 2000x

func openBench(b *testing.B, opts ...postgres.Option) *postgres.DB {
	b.Helper()
	db, err := postgres.Open(context.Background(), pgtest.Schema(b), append([]postgres.Option{postgres.WithLogger(quiet)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// created is reservation.created's transition: a new pending reservation and its dial job.
func createdFn(sid, task string) taskrouter.UpdateFunc {
	return func(s taskrouter.Snapshot) (taskrouter.Change, error) {
		if s.Found {
			return taskrouter.Change{}, nil
		}
		now := time.Now()
		r := taskrouter.Reservation{SID: sid, TaskSID: task, WorkspaceSID: "WS1", ContactURI: "+15005550101",
			CallerID: "+15005550199", State: taskrouter.StatePending, CreatedAt: now, UpdatedAt: now, Deadline: now.Add(2 * time.Minute)}
		return taskrouter.Change{Reservation: &r, Jobs: []taskrouter.Job{{Kind: taskrouter.JobDial, Deadline: r.Deadline}}}, nil
	}
}

// pipelines runs bench with UpdateReservation pipelined (the default) and one statement per
// round trip (WithoutPipeline).
func pipelines(b *testing.B, bench func(b *testing.B, db *postgres.DB)) {
	b.Run("pipelined", func(b *testing.B) { bench(b, openBench(b)) })
	b.Run("one-by-one", func(b *testing.B) { bench(b, openBench(b, postgres.WithoutPipeline())) })
}

func BenchmarkCreated(b *testing.B) { pipelines(b, benchCreated) }

func benchCreated(b *testing.B, db *postgres.DB) {
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sid, task := testkit.SID("WR"), testkit.SID("WT")
			if _, _, err := db.UpdateReservation(context.Background(), sid, task, testkit.SID("EV"), createdFn(sid, task)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAnswer is a transition of a stored reservation without its task given (a status
// callback).
func BenchmarkAnswer(b *testing.B) { pipelines(b, benchAnswer) }

func benchAnswer(b *testing.B, db *postgres.DB) {
	sids := make([]string, 256)
	for i := range sids {
		sids[i] = testkit.SID("WR")
		task := testkit.SID("WT")
		if _, _, err := db.UpdateReservation(context.Background(), sids[i], task, "", createdFn(sids[i], task)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var n int
	for range b.N {
		n++
		_, _, err := db.UpdateReservation(context.Background(), sids[n%len(sids)], "", "", func(s taskrouter.Snapshot) (taskrouter.Change, error) {
			r := s.Reservation
			r.UpdatedAt = time.Now()
			return taskrouter.Change{Reservation: &r}, nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClaimFinish(b *testing.B) {
	db := openBench(b)
	for range b.N {
		sid, task := testkit.SID("WR"), testkit.SID("WT")
		if _, _, err := db.UpdateReservation(context.Background(), sid, task, "", createdFn(sid, task)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		jobs, err := db.ClaimJobs(context.Background(), time.Now(), time.Minute, 1)
		if err != nil || len(jobs) != 1 {
			b.Fatal(err, len(jobs))
		}
		if err := db.FinishJob(context.Background(), jobs[0].ID, "done"); err != nil {
			b.Fatal(err)
		}
	}
}
