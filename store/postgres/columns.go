package postgres

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"queuebridge/taskrouter"
)

// The reservations table's columns, defined once: every statement, argument list and scan of a
// reservation is derived from reservationColumns, so a new field is one line here and a
// migration (the SQLite store keeps the same table in its own columns.go).

// column is one column: its name, whether it is the key or fixed at creation, and where its
// value lives in a Reservation.
type column struct {
	name  string
	key   bool // the primary key: the WHERE of an update
	fixed bool // written when the row is created, never changed after
	value func(*taskrouter.Reservation) any
	dest  func(*taskrouter.Reservation) any
}

// text is a TEXT column held in a string (or a string-typed field, converted to *string).
func text(name string, field func(*taskrouter.Reservation) *string) column {
	return column{name: name,
		value: func(r *taskrouter.Reservation) any { return *field(r) },
		dest:  func(r *taskrouter.Reservation) any { return field(r) }}
}

// instant is a BIGINT column of Unix milliseconds (0 for the zero time).
func instant(name string, field func(*taskrouter.Reservation) *time.Time) column {
	return column{name: name,
		value: func(r *taskrouter.Reservation) any { return millis(*field(r)) },
		dest:  func(r *taskrouter.Reservation) any { return (*millisTime)(field(r)) }}
}

// rsv keeps the table below one line per column.
type rsv = taskrouter.Reservation

// reservationColumns is the table, in the order of SELECT and INSERT.
var reservationColumns = []column{
	func() column { c := text("sid", func(r *rsv) *string { return &r.SID }); c.key = true; return c }(),
	text("task_sid", func(r *rsv) *string { return &r.TaskSID }),
	text("workspace_sid", func(r *rsv) *string { return &r.WorkspaceSID }),
	text("workflow_sid", func(r *rsv) *string { return &r.WorkflowSID }),
	text("worker_sid", func(r *rsv) *string { return &r.WorkerSID }),
	text("worker_name", func(r *rsv) *string { return &r.WorkerName }),
	text("contact_uri", func(r *rsv) *string { return &r.ContactURI }),
	text("caller_id", func(r *rsv) *string { return &r.CallerID }),
	text("state", func(r *rsv) *string { return (*string)(&r.State) }),
	text("call_sid", func(r *rsv) *string { return &r.CallSID }),
	text("call_status", func(r *rsv) *string { return (*string)(&r.CallStatus) }),
	text("answered_by", func(r *rsv) *string { return (*string)(&r.AnsweredBy) }),
	text("outcome_kind", func(r *rsv) *string { return (*string)(&r.Outcome.Kind) }),
	text("outcome", func(r *rsv) *string { return &r.Outcome.Detail }),
	func() column {
		c := instant("created_at", func(r *rsv) *time.Time { return &r.CreatedAt })
		c.fixed = true
		return c
	}(),
	instant("updated_at", func(r *rsv) *time.Time { return &r.UpdatedAt }),
	instant("dialing_at", func(r *rsv) *time.Time { return &r.DialingAt }),
	instant("deadline", func(r *rsv) *time.Time { return &r.Deadline }),
	text("department", func(r *rsv) *string { return &r.Department }),
	text("caller_last4", func(r *rsv) *string { return &r.CallerLast4 }),
	instant("enqueued_at", func(r *rsv) *time.Time { return &r.EnqueuedAt }),
}

// resSQL is every reservation statement, built once from the table.
var resSQL = buildReservationSQL(reservationColumns)

// boundStmt is a statement and the columns its parameters take, in order.
type boundStmt struct {
	query string
	cols  []column
}

// args binds r to the statement's parameters.
func (b boundStmt) args(r *taskrouter.Reservation) []any {
	out := make([]any, len(b.cols))
	for i, c := range b.cols {
		out[i] = c.value(r)
	}
	return out
}

type reservationSQL struct {
	// columns is the list every reservation SELECT reads, in table order (see scanReservation).
	columns string
	// upsert creates the row or, if it exists, rewrites all but its key and fixed columns.
	upsert boundStmt
	// update rewrites a stored row but for its key and fixed columns.
	update boundStmt
}

func buildReservationSQL(cols []column) reservationSQL {
	names := make([]string, len(cols))
	params := make([]string, len(cols))
	var key column
	var excluded, sets []string
	var bound []column
	for i, c := range cols {
		names[i], params[i] = c.name, "$"+strconv.Itoa(i+1)
		switch {
		case c.key:
			key = c
		case !c.fixed:
			excluded = append(excluded, c.name+" = excluded."+c.name)
			bound = append(bound, c)
			sets = append(sets, c.name+" = $"+strconv.Itoa(len(bound)))
		}
	}
	columns := strings.Join(names, ", ")
	return reservationSQL{
		columns: columns,
		upsert: boundStmt{cols: cols, query: "INSERT INTO reservations (" + columns + ") VALUES (" +
			strings.Join(params, ", ") + ") ON CONFLICT (" + key.name + ") DO UPDATE SET " + strings.Join(excluded, ", ")},
		update: boundStmt{cols: append(bound, key), query: "UPDATE reservations SET " + strings.Join(sets, ", ") +
			" WHERE " + key.name + " = $" + strconv.Itoa(len(bound)+1)},
	}
}

type scanner interface{ Scan(dest ...any) error }

// scanReservation reads one row of resSQL.columns.
func scanReservation(row scanner) (taskrouter.Reservation, error) {
	var r taskrouter.Reservation
	dest := make([]any, len(reservationColumns))
	for i, c := range reservationColumns {
		dest[i] = c.dest(&r)
	}
	err := row.Scan(dest...)
	return r, err
}

// millisTime scans a column of Unix milliseconds into a time.Time (UTC, 0 being the zero time).
type millisTime time.Time

// Scan implements sql.Scanner, which pgx honours.
func (m *millisTime) Scan(src any) error {
	ms, ok := src.(int64)
	if !ok {
		return fmt.Errorf("a time in milliseconds: got %T", src)
	}
	*m = millisTime(fromMillis(ms))
	return nil
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
