package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"queuebridge/internal/testkit"
	"queuebridge/taskrouter"
)

// Benchmarks of the store's transitions with 1k, 10k and 100k reservations already stored (and
// three processed events for each): the cost per transition must not grow with the table.
//
//	go test ./store -run '^$' -bench . -benchtime 2000x

var benchSizes = []int{1_000, 10_000, 100_000}

// openSeeded opens a database holding n finished reservations, 3n processed events and a canceled
// task per 100 reservations, written in one transaction (seeding is not what is measured).
func openSeeded(b *testing.B, n int) (*DB, []string) {
	b.Helper()
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	sids := make([]string, n)
	now := time.Now()
	err = db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for i := range n {
			r := taskrouter.Reservation{
				SID: testkit.SID("WR"), TaskSID: testkit.SID("WT"), WorkspaceSID: testkit.SID("WS"), WorkflowSID: testkit.SID("WW"),
				WorkerSID: testkit.SID("WK"), WorkerName: "alice", ContactURI: "+15005550101", CallerID: "+15005550199",
				State: taskrouter.StateCompleted, CallSID: testkit.SID("CA"), CallStatus: taskrouter.CallCompleted,
				AnsweredBy: taskrouter.AnsweredHuman, Outcome: taskrouter.Outcome{Kind: taskrouter.OutcomeBridged}, CreatedAt: now, UpdatedAt: now, Deadline: now.Add(2 * time.Minute),
			}
			sids[i] = r.SID
			if err := db.storeReservation(ctx, tx, db.w.upsert, resSQL.upsert, &r, nil); err != nil { // not cached: the reads below query the file
				return err
			}
			for range 3 {
				if _, err := tx.ExecContext(ctx, `INSERT INTO events(sid, type, at) VALUES (?, '', ?)`, testkit.SID("EV"), millis(now)); err != nil {
					return err
				}
			}
			if i%100 == 0 {
				if _, err := tx.ExecContext(ctx, `INSERT INTO canceled_tasks(task_sid, reason, at) VALUES (?, 'hangup', ?)`, testkit.SID("WT"), millis(now)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return db, sids
}

// createFn is reservation.created's transition: a new pending reservation and its dial job.
func createFn(sid, task string) taskrouter.UpdateFunc {
	return func(s taskrouter.Snapshot) (taskrouter.Change, error) {
		if s.Found {
			return taskrouter.Change{}, nil
		}
		now := time.Now()
		r := taskrouter.Reservation{SID: sid, TaskSID: task, WorkspaceSID: "WS00000000000000000000000000000001",
			WorkerSID: "WK00000000000000000000000000000001", ContactURI: "+15005550101", CallerID: "+15005550199",
			State: taskrouter.StatePending, CreatedAt: now, UpdatedAt: now, Deadline: now.Add(2 * time.Minute)}
		return taskrouter.Change{Reservation: &r, Jobs: []taskrouter.Job{{Kind: taskrouter.JobDial, Deadline: r.Deadline}}}, nil
	}
}

// touchFn is a later transition of a stored reservation (e.g. ringing → bridging).
func touchFn(s taskrouter.Snapshot) (taskrouter.Change, error) {
	r := s.Reservation
	r.UpdatedAt, r.CallStatus = time.Now(), taskrouter.CallInProgress
	return taskrouter.Change{Reservation: &r}, nil
}

func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	for _, n := range benchSizes {
		db, sids := openSeeded(b, n)
		b.Run(fmt.Sprintf("create/stored=%d", n), func(b *testing.B) {
			for b.Loop() {
				sid, task := testkit.SID("WR"), testkit.SID("WT")
				if _, _, err := db.UpdateReservation(ctx, sid, task, testkit.SID("EV"), createFn(sid, task)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("update/stored=%d", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				if _, _, err := db.UpdateReservation(ctx, sids[(i*7919)%len(sids)], "", "", touchFn); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("read/stored=%d", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				i++
				if _, err := db.readReservation(ctx, sids[(i*7919)%len(sids)]); err != nil {
					b.Fatal(err)
				}
			}
		})
		// The read of a reservation this process wrote last (cache.go): a retried /dial-queue.
		b.Run(fmt.Sprintf("read-cached/stored=%d", n), func(b *testing.B) {
			recent := sids[:min(len(sids), 1000)]
			for _, sid := range recent {
				if _, _, err := db.UpdateReservation(ctx, sid, "", "", touchFn); err != nil {
					b.Fatal(err)
				}
			}
			i := 0
			for b.Loop() {
				i++
				if _, err := db.Reservation(ctx, recent[(i*7919)%len(recent)]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("claim+finish/stored=%d", n), func(b *testing.B) {
			queueJobs(b, db, b.N)
			b.ResetTimer()
			for range b.N {
				jobs, err := db.ClaimJobs(ctx, time.Now(), time.Minute, 1)
				if err != nil || len(jobs) != 1 {
					b.Fatalf("claimed %d jobs: %v", len(jobs), err)
				}
				if err := db.FinishJob(ctx, jobs[0].ID, "done"); err != nil {
					b.Fatal(err)
				}
			}
		})
		// Many writers at once, as under load: what one durable commit per transition costs
		// when several requests wait for it together.
		b.Run(fmt.Sprintf("create-parallel/stored=%d", n), func(b *testing.B) {
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					sid, task := testkit.SID("WR"), testkit.SID("WT")
					if _, _, err := db.UpdateReservation(ctx, sid, task, testkit.SID("EV"), createFn(sid, task)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// queueJobs leaves every queued job of earlier runs claimed and finished, then queues n due jobs
// in one transaction.
func queueJobs(b *testing.B, db *DB, n int) {
	b.Helper()
	ctx := context.Background()
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM jobs`); err != nil {
			return err
		}
		past := millis(time.Now().Add(-time.Second))
		for range n {
			if _, err := tx.ExecContext(ctx, `INSERT INTO jobs(kind, reservation_sid, not_before, created_at) VALUES ('dial', ?, ?, ?)`,
				testkit.SID("WR"), past, past); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
