package store

import (
	"fmt"
	"strings"
	"time"

	"queuebridge/taskrouter"
)

// The reservations table's columns, defined once: every statement, argument list and scan of a
// reservation is derived from reservationColumns, so a new field is one line here and a
// migration.

// colFlags say which statements leave a column alone.
type colFlags uint8

const (
	// colKey is the primary key: the WHERE of an update, never set by one.
	colKey colFlags = 1 << iota
	// colFixed is written when the row is created and never changed after.
	colFixed
	// colIndexed has an index: the state-only update leaves it alone so SQLite does not touch the
	// index.
	colIndexed
)

// column is one column: its name, and where its value lives in a Reservation. value is what a
// statement binds; dest is what a scan fills (a *string or a *millisTime, both without reflection
// in database/sql); same compares two reservations' values without boxing them.
type column struct {
	name  string
	flags colFlags
	value func(*taskrouter.Reservation) any
	dest  func(*taskrouter.Reservation) any
	same  func(a, b *taskrouter.Reservation) bool
}

// text is a TEXT column held in a string (or a string-typed field, converted to *string).
func text(name string, flags colFlags, field func(*taskrouter.Reservation) *string) column {
	return column{name: name, flags: flags,
		value: func(r *taskrouter.Reservation) any { return *field(r) },
		dest:  func(r *taskrouter.Reservation) any { return field(r) },
		same:  func(a, b *taskrouter.Reservation) bool { return *field(a) == *field(b) }}
}

// instant is an INTEGER column of Unix milliseconds (0 for the zero time).
func instant(name string, flags colFlags, field func(*taskrouter.Reservation) *time.Time) column {
	return column{name: name, flags: flags,
		value: func(r *taskrouter.Reservation) any { return millis(*field(r)) },
		dest:  func(r *taskrouter.Reservation) any { return (*millisTime)(field(r)) },
		same:  func(a, b *taskrouter.Reservation) bool { return millis(*field(a)) == millis(*field(b)) }}
}

// rsv keeps the table below one line per column.
type rsv = taskrouter.Reservation

// reservationColumns is the table, in the order of SELECT and INSERT.
var reservationColumns = []column{
	text("sid", colKey, func(r *rsv) *string { return &r.SID }),
	text("task_sid", colIndexed, func(r *rsv) *string { return &r.TaskSID }),
	text("workspace_sid", 0, func(r *rsv) *string { return &r.WorkspaceSID }),
	text("workflow_sid", 0, func(r *rsv) *string { return &r.WorkflowSID }),
	text("worker_sid", 0, func(r *rsv) *string { return &r.WorkerSID }),
	text("worker_name", 0, func(r *rsv) *string { return &r.WorkerName }),
	text("contact_uri", 0, func(r *rsv) *string { return &r.ContactURI }),
	text("caller_id", 0, func(r *rsv) *string { return &r.CallerID }),
	text("state", 0, func(r *rsv) *string { return (*string)(&r.State) }),
	text("call_sid", colIndexed, func(r *rsv) *string { return &r.CallSID }),
	text("call_status", 0, func(r *rsv) *string { return (*string)(&r.CallStatus) }),
	text("answered_by", 0, func(r *rsv) *string { return (*string)(&r.AnsweredBy) }),
	text("outcome_kind", 0, func(r *rsv) *string { return (*string)(&r.Outcome.Kind) }),
	text("outcome", 0, func(r *rsv) *string { return &r.Outcome.Detail }),
	instant("created_at", colFixed, func(r *rsv) *time.Time { return &r.CreatedAt }),
	instant("updated_at", 0, func(r *rsv) *time.Time { return &r.UpdatedAt }),
	instant("dialing_at", 0, func(r *rsv) *time.Time { return &r.DialingAt }),
	instant("deadline", 0, func(r *rsv) *time.Time { return &r.Deadline }),
	text("department", 0, func(r *rsv) *string { return &r.Department }),
	text("caller_last4", 0, func(r *rsv) *string { return &r.CallerLast4 }),
	instant("enqueued_at", 0, func(r *rsv) *time.Time { return &r.EnqueuedAt }),
}

// resSQL is every reservation statement, built once from the table.
var resSQL = buildReservationSQL(reservationColumns)

// boundStmt is a statement and the columns its placeholders take, in order.
type boundStmt struct {
	query string
	cols  []column
}

// args binds r to the statement's placeholders.
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
	// updateState is update without the indexed columns, for the common transition that changes
	// neither the task nor the call.
	updateState boundStmt
}

func buildReservationSQL(cols []column) reservationSQL {
	var key column
	names := make([]string, len(cols))
	var excluded []string
	for i, c := range cols {
		names[i] = c.name
		if c.flags&colKey != 0 {
			key = c
		} else if c.flags&colFixed == 0 {
			excluded = append(excluded, c.name+"=excluded."+c.name)
		}
	}
	columns := strings.Join(names, ", ")
	set := func(skip colFlags) boundStmt {
		var sets []string
		var bound []column
		for _, c := range cols {
			if c.flags&(colKey|colFixed|skip) == 0 {
				sets = append(sets, c.name+"=?")
				bound = append(bound, c)
			}
		}
		q := "UPDATE reservations SET " + strings.Join(sets, ", ") + " WHERE " + key.name + "=?"
		return boundStmt{query: q, cols: append(bound, key)}
	}
	return reservationSQL{
		columns: columns,
		upsert: boundStmt{cols: cols, query: "INSERT INTO reservations(" + columns + ") VALUES (" +
			strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ") ON CONFLICT(" + key.name +
			") DO UPDATE SET " + strings.Join(excluded, ", ")},
		update:      set(0),
		updateState: set(colIndexed),
	}
}

// sameRow reports whether b is stored in a's row with a's indexed columns unchanged: then
// updateState, which leaves them alone, stores it.
func sameRow(a, b *taskrouter.Reservation) bool {
	for _, c := range reservationColumns {
		if c.flags&(colKey|colIndexed) != 0 && !c.same(a, b) {
			return false
		}
	}
	return true
}

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

// asStored is the row a read returns after r was stored over stored (whose fixed columns the
// statement left alone; stored == r for a new row): r's values as the columns hold them (times
// to the millisecond, in UTC), and nothing of r the table does not hold. False for a column of a
// kind it cannot copy (TestTheCacheHoldsWhatAReadReturns fails first).
func asStored(r, stored *taskrouter.Reservation) (taskrouter.Reservation, bool) {
	var out taskrouter.Reservation
	for _, c := range reservationColumns {
		from := r
		if c.flags&colFixed != 0 {
			from = stored
		}
		switch d := c.dest(&out).(type) {
		case *string:
			// A copy: r's strings may be slices of a whole webhook's body, which the cache
			// would otherwise keep alive.
			*d = strings.Clone(c.value(from).(string))
		case *millisTime:
			*d = millisTime(fromMillis(c.value(from).(int64)))
		default:
			return out, false
		}
	}
	return out, true
}

// millisTime scans a column of Unix milliseconds into a time.Time (UTC, 0 being the zero time).
type millisTime time.Time

// Scan implements sql.Scanner.
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
