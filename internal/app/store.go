package app

import (
	"context"
	"fmt"
	"log/slog"
	"queuebridge/caller"
	"strings"

	"queuebridge/store"
	"queuebridge/store/postgres"
	"queuebridge/taskrouter"
)

// Store is what the app needs of a store: the domain's interface, and Close.
type Store interface {
	taskrouter.Store
	caller.VoicemailStore
	caller.RecordingStore
	caller.SMSStore
	Close() error
}

// Leader is a store shared by several processes that elects one of them to run the work that
// must run once (the reconciler, the janitor): Lead runs fn while this process leads, ending
// fn's context when it stops leading, until ctx ends. A store without it (SQLite: one process
// per database) always leads.
type Leader interface {
	Lead(ctx context.Context, fn func(ctx context.Context))
}

// OpenStore opens the store DATABASE_URL names: postgres://… or postgresql://… is PostgreSQL
// (any number of bridges may share it); a file path or sqlite://path (default queuebridge.db)
// is SQLite (one bridge per file, enforced by a lock file). No error carries a password.
func OpenStore(ctx context.Context, databaseURL string, log *slog.Logger) (Store, error) {
	if log == nil {
		log = slog.Default()
	}
	if postgres.IsURL(databaseURL) {
		db, err := postgres.Open(ctx, databaseURL, postgres.WithLogger(log))
		if err != nil {
			return nil, fmt.Errorf("DATABASE_URL: %w", err)
		}
		return db, nil
	}
	if scheme, _, ok := strings.Cut(databaseURL, "://"); ok && scheme != "sqlite" {
		return nil, fmt.Errorf("DATABASE_URL %s: unknown scheme %q: want a file path or sqlite://path (SQLite), "+
			"or postgres:// or postgresql:// (PostgreSQL)", postgres.Redacted(databaseURL), scheme)
	}
	path, err := store.Path(databaseURL)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, path, nil, store.WithLogger(log))
}

// lead runs fn while this process leads: under the store's leadership if it elects one,
// always otherwise.
func lead(ctx context.Context, s Store, fn func(ctx context.Context)) {
	if l, ok := s.(Leader); ok {
		l.Lead(ctx, fn)
		return
	}
	fn(ctx)
}
