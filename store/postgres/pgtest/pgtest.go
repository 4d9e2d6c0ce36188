// Package pgtest gives tests a PostgreSQL schema of their own. The server is named by
// QUEUEBRIDGE_TEST_POSTGRES (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable);
// when it cannot be reached the test is skipped, saying how to run it, unless
// QUEUEBRIDGE_REQUIRE_POSTGRES=1 (CI), which fails it instead.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the server tests use when QUEUEBRIDGE_TEST_POSTGRES is not set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// connectTimeout bounds the check that the server is there.
const connectTimeout = 3 * time.Second

// ServerURL is the test server's URL, from QUEUEBRIDGE_TEST_POSTGRES or DefaultURL.
func ServerURL() string {
	if u := os.Getenv("QUEUEBRIDGE_TEST_POSTGRES"); u != "" {
		return u
	}
	return DefaultURL
}

// Required reports whether PostgreSQL tests must run (QUEUEBRIDGE_REQUIRE_POSTGRES=1).
func Required() bool { return os.Getenv("QUEUEBRIDGE_REQUIRE_POSTGRES") == "1" }

// unreachable remembers, per process, that the server could not be reached, so that a
// package's many tests skip at once instead of each waiting for the connect timeout.
var unreachable struct {
	sync.Mutex
	err error
}

// Schema creates a fresh, empty schema, drops it (with everything in it) when t ends, and
// returns a DATABASE_URL whose search_path is that schema: every store opened with it works
// there, as several replicas would share one database.
func Schema(t testing.TB) string {
	t.Helper()
	server := ServerURL()
	conn := connect(t, server)
	defer conn.Close(context.Background())
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "qbtest_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(context.Background(), `CREATE SCHEMA `+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("creating schema %s: %v", name, err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), server)
		if err != nil {
			t.Errorf("dropping schema %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), `DROP SCHEMA `+pgx.Identifier{name}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("dropping schema %s: %v", name, err)
		}
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("QUEUEBRIDGE_TEST_POSTGRES: %v", err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// connect opens a connection to the server, or skips (fails when required) the test.
func connect(t testing.TB, server string) *pgx.Conn {
	t.Helper()
	unreachable.Lock()
	err := unreachable.err
	unreachable.Unlock()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
		defer cancel()
		var conn *pgx.Conn
		if conn, err = pgx.Connect(ctx, server); err == nil {
			return conn
		}
		unreachable.Lock()
		unreachable.err = err
		unreachable.Unlock()
	}
	why := "PostgreSQL is not reachable at " + redacted(server) + " (" + err.Error() + ")"
	if Required() {
		t.Fatalf("%s, and QUEUEBRIDGE_REQUIRE_POSTGRES=1", why)
	}
	t.Skipf("%s: skipped. To run the PostgreSQL tests, start a server (trust auth, a database for the tests) and set "+
		"QUEUEBRIDGE_TEST_POSTGRES to its URL (default %s); QUEUEBRIDGE_REQUIRE_POSTGRES=1 fails instead of skipping", why, DefaultURL)
	return nil
}

func redacted(server string) string {
	u, err := url.Parse(server)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
