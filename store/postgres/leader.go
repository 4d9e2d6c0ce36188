package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Leadership. The work that must run on one replica at a time (the reconciler, the janitor)
// runs under a session advisory lock, held on a connection of its own: PostgreSQL releases it
// when that session ends, so when the leader dies (its connection closes) another replica,
// which tries every LeaderRetry, takes over. The leader checks its session every LeaderCheck
// and stops leading when it is lost. Leadership keeps that work from being done several times
// over (Twilio requests paced per process); it is not what keeps it correct: everything it does
// goes through the same compare-and-sets as the webhooks, so the second or two two replicas
// may both lead, when one loses its connection, does no harm.

// Leadership timing.
const (
	// LeaderRetry is how often a replica that is not leading tries to take the lock.
	LeaderRetry = time.Second
	// LeaderCheck is how often the leader checks that its session (and so its lock) is alive.
	LeaderCheck = time.Second
)

// leaderKeepalive makes the server notice a leader gone without closing its connection (a
// host lost, a network cut) within seconds, not the system's default of hours: TCP keepalives
// every second after 5 idle seconds, 3 unanswered ones ending the session.
var leaderKeepalive = map[string]string{"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "1", "tcp_keepalives_count": "3"}

// Lead runs fn whenever this replica holds the leadership lock, until ctx ends: fn's context
// ends when leadership is lost (or ctx ends), and Lead waits for fn to return before it tries
// to lead again.
func (db *DB) Lead(ctx context.Context, fn func(ctx context.Context)) {
	failing := false // warned already: a database down is logged once, not every LeaderRetry
	for ctx.Err() == nil {
		led, err := db.leadOnce(ctx, fn)
		if err != nil && ctx.Err() == nil && !failing {
			db.log.Warn("leadership: cannot reach the database; retrying every second", "database", db.where, "err", err)
		}
		failing = err != nil
		if !led {
			select {
			case <-ctx.Done():
			case <-time.After(LeaderRetry):
			}
		}
	}
}

// leadOnce connects, tries the lock and, holding it, runs fn until the session is lost or ctx
// ends. It reports whether it led, and why it could not try.
func (db *DB) leadOnce(ctx context.Context, fn func(ctx context.Context)) (bool, error) {
	conf := db.conf.Copy()
	for k, v := range leaderKeepalive {
		conf.RuntimeParams[k] = v
	}
	conf.RuntimeParams["application_name"] += " leader"
	conn, err := pgx.ConnectConfig(ctx, conf)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx)) // ends the session: releases the lock
	for {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, db.keys.leader).Scan(&got); err != nil {
			return false, err
		}
		if got {
			break
		}
		select {
		case <-ctx.Done():
			return false, nil
		case <-time.After(LeaderRetry):
		}
	}
	db.log.Info("leading: this replica runs the reconciler and the janitor", "database", db.where, "schema", db.schema)
	lctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		fn(lctx)
	}()
	lost := db.watchSession(lctx, conn)
	stop()
	wg.Wait()
	if lost != nil {
		db.log.Warn("leadership lost: another replica takes over", "database", db.where, "err", lost)
	}
	return true, nil
}

// watchSession pings the leader's session until ctx ends (nil) or the session fails (its error).
func (db *DB) watchSession(ctx context.Context, conn *pgx.Conn) error {
	t := time.NewTicker(LeaderCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, LeaderCheck)
		err := conn.Ping(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			return err
		}
	}
}
