package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Readiness. /readyz must fail when this replica cannot commit, so that a load balancer takes
// it out while another replica can: Ping commits a small write (one row of the health table),
// at most once per probeEvery, and answers the cached result in between, or the last fault a
// write met (a lost connection, PostgreSQL shutting down or read-only). SELECT 1 would pass on
// a standby or a database that refuses writes.

// probeEvery bounds how often Ping writes.
const probeEvery = time.Second

// probeTimeout bounds one probe: an unreachable server must fail /readyz, not hang it.
const probeTimeout = 3 * time.Second

type health struct {
	every time.Duration

	mu        sync.Mutex
	checkedAt time.Time // when last was learnt (a probe or a fault)
	last      error     // nil while writes succeed

	probeMu sync.Mutex // one probe at a time
}

// Ping checks that a write commits (for /readyz).
func (db *DB) Ping(ctx context.Context) error {
	select {
	case <-db.closing:
		return errors.New("store is closed")
	default:
	}
	if err, ok := db.cached(time.Now()); ok {
		return err
	}
	db.health.probeMu.Lock()
	defer db.health.probeMu.Unlock()
	if err, ok := db.cached(time.Now()); ok { // a probe ran while this one waited
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	_, err := db.pool.Exec(pctx, `INSERT INTO health (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at`,
		time.Now().UnixMilli())
	if ctx.Err() != nil {
		return err // the caller left: this says nothing of the database
	}
	if err != nil {
		err = fmt.Errorf("database writes fail: %w", err)
	}
	db.record(time.Now(), err)
	return err
}

// noteFault records an error of the write path that says the database is unavailable: Ping
// reports it until a probe succeeds. Other errors (a conflict, a canceled caller) are ignored.
func (db *DB) noteFault(err error) {
	if unavailable(err) {
		db.record(time.Now(), fmt.Errorf("database writes fail: %w", err))
	}
}

// unavailable reports whether err says the database cannot be used now: the connection failed
// or was lost, or the server refuses work (shutting down, out of resources, read-only).
func unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", "53", "57", "58", "XX": // connection, resources, operator intervention, system, internal
			return pe.Code != "57014" // query_canceled: a caller's own timeout
		}
		return pe.Code == "25006" // read_only_sql_transaction: a standby, or default_transaction_read_only
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ne) || errors.As(err, &ce) || pgconn.SafeToRetry(err) || errors.Is(err, context.DeadlineExceeded)
}

// record stores what was learnt of the writes at now, logging when they start or stop failing.
func (db *DB) record(now time.Time, err error) {
	h := &db.health
	h.mu.Lock()
	prev := h.last
	h.last, h.checkedAt = err, now
	h.mu.Unlock()
	switch {
	case prev == nil && err != nil:
		db.log.Error("database writes fail: webhooks answer 5xx and /readyz 503 until they succeed", "database", db.where, "err", err)
	case prev != nil && err == nil:
		db.log.Info("database writes succeed again", "database", db.where)
	}
}

// cached returns what is known of the writes if it was learnt less than an interval before now.
func (db *DB) cached(now time.Time) (error, bool) {
	h := &db.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.checkedAt.IsZero() || now.Sub(h.checkedAt) >= h.every {
		return nil, false
	}
	return h.last, true
}
