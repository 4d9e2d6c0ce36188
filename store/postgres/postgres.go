// Package postgres keeps queuebridge's state in PostgreSQL (jackc/pgx v5), so that several
// bridges can share one database: any replica takes any webhook, and any replica runs any job.
// It implements taskrouter.Store with the SQLite store's semantics (store/storetest holds both
// to one contract) and adds what replicas need: a wake-up when another replica queues a job
// (LISTEN/NOTIFY: taskrouter.JobSignal), job leases that the replica running a job extends
// (taskrouter.Store.ExtendLeases), and a leadership lock for the work that must run once (Lead).
//
// # Serialization
//
// SQLite runs every write transaction one after the other, which makes each update a
// compare-and-set. Here transactions run concurrently (READ COMMITTED), so each update first
// takes transaction-scoped advisory locks on what it reads, in one global order, and reads only
// after holding them (each statement of a READ COMMITTED transaction sees every commit before
// it started, and a lock is released only after its holder's commit is visible):
//
//  1. the event SID (the primary key insert that de-duplicates: a concurrent delivery of the
//     same event waits for the first one's commit, then sees it);
//  2. UpdateReservation: the reservation SID, so that updates of one reservation, stored or not
//     yet, run one at a time;
//  3. the task SID: UpdateReservation's (the stored reservation's task, else the one given) and
//     UpdateTask's. An update of a reservation and an update of its task exclude each other, so
//     a task.canceled on one replica and a reservation.created or an answer on another apply in
//     one order or the other, never interleaved (the cancel's reservation list, the canceled
//     task a late reservation.created must see).
//
// Row locks (SELECT … FOR UPDATE) alone would not do: they cannot lock a reservation that is not
// stored yet (two replicas handling one reservation.created) nor the set of a task's
// reservations (one being created while the task is canceled). SERIALIZABLE would, but it
// answers contention (Twilio retries and duplicated events hit one reservation at once) with
// aborts to retry, and its predicate locks abort unrelated updates that share an index page.
// Locks taken in one order cannot deadlock; a deadlock or serialization failure reported anyway
// (a reservation moved to another task while being updated) is retried, running the update
// function again, which the Store contract allows.
//
// Jobs are claimed with FOR UPDATE SKIP LOCKED: concurrent claimers take disjoint jobs without
// waiting for each other.
package postgres

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"queuebridge/taskrouter"
)

//go:embed migrations/*.sql
var migrations embed.FS

// defaultMaxConns is the pool size unless DATABASE_URL sets pool_max_conns: webhooks and the
// dispatcher's workers (64 by default) share it, and a transaction holds a connection only for
// its few round trips.
const defaultMaxConns = 16

// opTimeout bounds each operation of the store, and connectTimeout each new connection unless
// DATABASE_URL sets connect_timeout: a database that stopped answering (a network cut without a
// reset) fails the request, which Twilio then retries elsewhere, instead of holding it.
const (
	opTimeout      = 10 * time.Second
	connectTimeout = 5 * time.Second
)

// maxAttempts bounds the retries of a transaction PostgreSQL aborted to keep it serializable.
const maxAttempts = 5

// DB is the PostgreSQL store.
type DB struct {
	pool   *pgxpool.Pool
	conf   *pgx.ConnConfig // the dedicated connections' (listener, leadership)
	schema string
	// keys holds the session advisory lock keys, derived from the schema so that two
	// deployments in one database (or two tests) never share a lock.
	keys struct{ migrate, leader int64 }
	// channel is the NOTIFY channel of queued jobs, per schema too; id is this store's own
	// payload on it, which its listener ignores (its own commits tick the channel directly).
	channel, id string
	where       string // the redacted DATABASE_URL, for messages
	now         func() time.Time
	log         *slog.Logger

	health health
	signal signal
	// oneByOne sends UpdateReservation's statements one round trip each (WithoutPipeline).
	oneByOne bool

	closing   chan struct{}
	closeOnce sync.Once
	bg        sync.WaitGroup // the listener
}

var (
	_ taskrouter.Store     = (*DB)(nil)
	_ taskrouter.JobSignal = (*DB)(nil)
)

// Option configures Open.
type Option func(*DB)

// WithLogger sets where the store reports faults, reconnections and leadership (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(db *DB) { db.log = l } }

// WithClock sets the clock of the store's bookkeeping: processed events, jobs queued without a
// NotBefore, the leases ResumeJobs finds ended (default time.Now).
func WithClock(now func() time.Time) Option { return func(db *DB) { db.now = now } }

// WithoutPipeline makes UpdateReservation send one statement per round trip instead of two
// pipelined batches (pipeline.go): the reference the pipelined path is tested and measured against.
func WithoutPipeline() Option { return func(db *DB) { db.oneByOne = true } }

// IsURL reports whether databaseURL names a PostgreSQL database (postgres:// or postgresql://).
func IsURL(databaseURL string) bool {
	return strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://")
}

// Redacted is a database URL fit for a message: its password replaced by xxxxx.
func Redacted(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Open connects to the database at databaseURL (a postgres:// URL; pgx's parameters apply, and
// search_path picks the schema), applies the embedded migrations and returns the store. The
// pool holds pool_max_conns connections (default 16).
func Open(ctx context.Context, databaseURL string, opts ...Option) (*DB, error) {
	db := &DB{where: Redacted(databaseURL), now: time.Now, log: slog.Default(), closing: make(chan struct{}),
		health: health{every: probeEvery}}
	for _, o := range opts {
		o(db)
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL %s: %w", db.where, err)
	}
	if !strings.Contains(databaseURL, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	if _, set := cfg.ConnConfig.RuntimeParams["application_name"]; !set {
		cfg.ConnConfig.RuntimeParams["application_name"] = "queuebridge"
	}
	db.conf = cfg.ConnConfig.Copy()
	if db.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("opening %s: %w", db.where, err)
	}
	if err := db.init(ctx); err != nil {
		db.pool.Close()
		return nil, err
	}
	return db, nil
}

// init finds the schema, derives the names that depend on it, and migrates.
func (db *DB) init(ctx context.Context) error {
	var schema *string
	if err := db.pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("connecting to %s: %w", db.where, err)
	}
	if schema == nil {
		return fmt.Errorf("connecting to %s: no schema of its search_path exists: create it first", db.where)
	}
	db.schema = *schema
	db.keys.migrate = key64("migrate", db.schema)
	db.keys.leader = key64("leader", db.schema)
	db.channel, db.id = channelName(db.schema), rand.Text()
	db.signal.ch, db.signal.listening = make(chan struct{}, 1), make(chan struct{})
	if err := db.migrate(ctx); err != nil {
		return fmt.Errorf("migrating %s (schema %s): %w", db.where, db.schema, err)
	}
	return nil
}

// Close stops the listener and closes the pool. Dedicated connections (a Lead in progress) are
// closed when their context ends.
func (db *DB) Close() error {
	db.closeOnce.Do(func() { close(db.closing) })
	db.bg.Wait()
	db.pool.Close()
	return nil
}

// Schema is the schema the store works in.
func (db *DB) Schema() string { return db.schema }

// key64 is a session advisory lock key: what it locks, in this schema.
func key64(what, schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("queuebridge\x00" + what + "\x00" + schema))
	return int64(h.Sum64())
}

// key32 is the second half of a transaction advisory lock key (the first is the lock class): a
// SID in this schema. Two SIDs that share a key only wait for each other.
func (db *DB) key32(sid string) int32 {
	h := fnv.New32a()
	h.Write([]byte(db.schema + "\x00" + sid))
	return int32(h.Sum32())
}

// channelName is the NOTIFY channel for the schema's jobs: readable when it fits in an
// identifier (63 bytes), hashed otherwise.
func channelName(schema string) string {
	name := "queuebridge_jobs_" + schema
	if len(name) > 63 {
		name = "queuebridge_jobs_" + strconv.FormatUint(uint64(key64("channel", schema)), 16)
	}
	return name
}

// migrate applies the embedded migrations not applied yet, each in its own transaction, under a
// session advisory lock: replicas starting together apply each migration once, the others wait.
// A version applied by a newer binary is left alone (see docs/POSTGRES.md: a schema change
// never needs every replica stopped).
func (db *DB) migrate(ctx context.Context) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, db.keys.migrate); err != nil {
		return fmt.Errorf("taking the migration lock: %w", err)
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, db.keys.migrate); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx)) // closing the session releases the lock
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	rows, _ := conn.Query(ctx, `SELECT version FROM schema_migrations`)
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		return err
	}
	done := map[int]bool{}
	for _, v := range applied {
		done[v] = true
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		version, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(name, "migrations/"), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", name)
		}
		if done[version] {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", name, err)
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, version)
			return err
		})
		if err != nil {
			return err
		}
		db.log.Info("database migrated", "database", db.where, "schema", db.schema, "version", version)
	}
	return nil
}

// txFunc is one write transaction's work.
type txFunc func(ctx context.Context, tx pgx.Tx) error

// inTx runs fn in a transaction and commits, retrying (fn included) when PostgreSQL aborted it
// to keep transactions serializable (a deadlock or a serialization failure).
func (db *DB) inTx(ctx context.Context, fn txFunc) error {
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(ctx, opTimeout)
		err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error { return fn(ctx, tx) })
		cancel()
		db.noteFault(err)
		if err == nil || attempt == maxAttempts || !retryable(err) {
			return err
		}
	}
}

// retryable reports whether PostgreSQL aborted the transaction only to keep it serializable.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// Reservation returns the stored reservation or taskrouter.ErrNotFound.
func (db *DB) Reservation(ctx context.Context, sid string) (taskrouter.Reservation, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	r, err := scanReservation(db.pool.QueryRow(ctx, `SELECT `+resSQL.columns+` FROM reservations WHERE sid = $1`, sid))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, taskrouter.ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("reading reservation %s: %w", sid, err)
	}
	return r, nil
}

// TaskReservations returns the task's reservations, oldest first.
func (db *DB) TaskReservations(ctx context.Context, taskSID string) ([]taskrouter.Reservation, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	out, err := scanReservations(db.pool.Query(ctx, `SELECT `+resSQL.columns+` FROM reservations
		WHERE task_sid = $1 ORDER BY created_at, sid`, taskSID))
	if err != nil {
		return nil, fmt.Errorf("reading reservations of task %s: %w", taskSID, err)
	}
	return out, nil
}

// OpenReservations returns up to limit reservations the reconciler watches (pending, dialing,
// ringing, bridging, accepted) with an agent leg, created before before, oldest first.
func (db *DB) OpenReservations(ctx context.Context, before time.Time, limit int) ([]taskrouter.Reservation, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	out, err := scanReservations(db.pool.Query(ctx, `SELECT `+resSQL.columns+` FROM reservations
		WHERE state IN ('pending', 'dialing', 'ringing', 'confirming', 'bridging', 'accepted') AND call_sid <> '' AND created_at < $1
		ORDER BY created_at, sid LIMIT $2`, millis(before), limit))
	if err != nil {
		return nil, fmt.Errorf("reading open reservations: %w", err)
	}
	return out, nil
}

// scanReservations reads every row a reservation query returned, closing the rows.
func scanReservations(rows pgx.Rows, err error) ([]taskrouter.Reservation, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []taskrouter.Reservation
	for rows.Next() {
		r, err := scanReservation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// CallOwner returns the reservation whose agent leg callSID is, or "".
func (db *DB) CallOwner(ctx context.Context, callSID string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	var sid string
	err := db.pool.QueryRow(ctx, `SELECT sid FROM reservations WHERE call_sid = $1 AND call_sid <> '' LIMIT 1`, callSID).Scan(&sid)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("finding the owner of call %s: %w", callSID, err)
	}
	return sid, nil
}

// PruneEvents forgets processed event SIDs recorded before before.
func (db *DB) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	n, err := db.exec(ctx, `DELETE FROM events WHERE at < $1`, millis(before))
	if err != nil {
		return 0, fmt.Errorf("pruning events: %w", err)
	}
	return n, nil
}
