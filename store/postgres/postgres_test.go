package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"queuebridge/store/postgres"
	"queuebridge/store/postgres/pgtest"
	"queuebridge/store/storetest"
	"queuebridge/taskrouter"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// open opens a store on databaseURL, closed when t ends.
func open(t *testing.T, databaseURL string, opts ...postgres.Option) *postgres.DB {
	t.Helper()
	opts = append([]postgres.Option{postgres.WithLogger(quiet)}, opts...)
	db, err := postgres.Open(context.Background(), databaseURL, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) taskrouter.Store {
		return open(t, pgtest.Schema(t))
	})
}

// Two stores on one schema: two replicas.
func TestShared(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (taskrouter.Store, taskrouter.Store) {
		url := pgtest.Schema(t)
		return open(t, url), open(t, url)
	})
}

// The one-statement-per-round-trip path (WithoutPipeline) is held to the same contract, and
// mixed with the pipelined one on one schema (a rolling deploy from one to the other).
func TestConformanceWithoutPipeline(t *testing.T) {
	storetest.Run(t, func(t *testing.T) taskrouter.Store {
		return open(t, pgtest.Schema(t), postgres.WithoutPipeline())
	})
}

func TestSharedPipelinedAndNot(t *testing.T) {
	storetest.RunShared(t, func(t *testing.T) (taskrouter.Store, taskrouter.Store) {
		url := pgtest.Schema(t)
		return open(t, url), open(t, url, postgres.WithoutPipeline())
	})
}
