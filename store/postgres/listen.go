package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Wake-ups. A transaction that queues jobs sends NOTIFY on the schema's channel (delivered at
// its commit, to every listening session), its store's id as the payload; each store that was
// asked for JobsQueued keeps one connection of its own LISTENing, and turns every notification
// from another store into a tick of its channel, on which the dispatcher claims. Its own
// commits tick the channel directly once committed (inTxQueuing): the echo of its own NOTIFY
// would wake its dispatcher a second time, a claim and a look-up that find nothing. A dropped connection is dialled again (with a growing pause, up
// to listenMaxBackoff), and a tick follows every (re)connection: notifications sent while
// nobody listened are lost, so the dispatcher claims once to find their jobs.

// listenMaxBackoff caps the pause between reconnection attempts.
const listenMaxBackoff = 5 * time.Second

type signal struct {
	once sync.Once
	ch   chan struct{}
	// listening is closed once the first LISTEN is in place (tests wait for it).
	listening chan struct{}
}

// JobsQueued returns a channel that receives a value (coalesced: a full buffer already says
// "claim") when any replica on this database queued jobs, and after the listener reconnected.
func (db *DB) JobsQueued() <-chan struct{} {
	db.signal.once.Do(func() { // the channels are made by Open: commits tick before any listener
		ctx, cancel := context.WithCancel(context.Background())
		db.bg.Add(2)
		go func() {
			defer db.bg.Done()
			<-db.closing
			cancel()
		}()
		go func() {
			defer db.bg.Done()
			db.listen(ctx)
		}()
	})
	return db.signal.ch
}

// Listening is closed once the listener's first LISTEN is in place (JobsQueued starts it).
func (db *DB) Listening() <-chan struct{} {
	db.JobsQueued()
	return db.signal.listening
}

func (db *DB) tick() {
	select {
	case db.signal.ch <- struct{}{}:
	default:
	}
}

// listen keeps a LISTEN connection until ctx ends.
func (db *DB) listen(ctx context.Context) {
	backoff := 50 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		err := db.listenOnce(ctx, func() {
			backoff = 50 * time.Millisecond
			if first {
				close(db.signal.listening)
				first = false
			}
		})
		if ctx.Err() != nil {
			return
		}
		db.log.Warn("job notifications: listener lost, reconnecting", "database", db.where, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, listenMaxBackoff)
	}
}

// listenOnce connects, listens, and forwards notifications until the connection fails.
func (db *DB) listenOnce(ctx context.Context, connected func()) error {
	conf := db.conf.Copy()
	conf.RuntimeParams["application_name"] += " listener"
	conn, err := pgx.ConnectConfig(ctx, conf)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{db.channel}.Sanitize()); err != nil {
		return err
	}
	connected()
	db.tick() // what was queued while nobody listened
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n.Payload != db.id { // this store's own commits ticked already
			db.tick()
		}
	}
}
