package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"queuebridge/caller"
)

// The SMS afterwards (caller.SMSStore). SQLite has one writer: the claim's check and insert run
// in one transaction of the group-commit writer, so two claims of one number and day never
// both succeed.

var _ caller.SMSStore = (*DB)(nil)

// smsFinal are the statuses a status callback never replaces.
const smsFinal = `('delivered', 'undelivered', 'failed')`

// ClaimSMS claims the number's SMS of the day unless it was claimed already or the number is
// known unreachable.
func (db *DB) ClaimSMS(ctx context.Context, s caller.SMS) (caller.Claim, error) {
	var claim caller.Claim
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sms_unreachable WHERE number = ?`, s.To).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			claim = caller.KnownUnreachable
			return nil
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO sms_sent
			(to_number, day, from_number, reason, call_sid, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (to_number, day) DO NOTHING`,
			s.To, s.Day, s.From, string(s.Reason), s.CallSID, s.Status, s.CreatedAt.UnixMilli(), s.UpdatedAt.UnixMilli())
		if err != nil {
			return err
		}
		claim = caller.Claimed
		if rows, err := res.RowsAffected(); err != nil {
			return err
		} else if rows == 0 {
			claim = caller.AlreadyClaimed
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("claim SMS to %s on %s: %w", s.To, s.Day, err)
	}
	return claim, nil
}

// RecordSMS stores the create's result; a status a callback already stored is kept.
func (db *DB) RecordSMS(ctx context.Context, to, day, messageSID, status string, errorCode int, at time.Time) error {
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE sms_sent SET
			message_sid = CASE WHEN message_sid = '' THEN ? ELSE message_sid END,
			status = CASE WHEN status = ? THEN ? ELSE status END,
			error_code = CASE WHEN status = ? THEN ? ELSE error_code END,
			updated_at = ? WHERE to_number = ? AND day = ?`,
			messageSID, caller.SMSClaimed, status, caller.SMSClaimed, errorCode, at.UnixMilli(), to, day)
		return err
	})
	if err != nil {
		return fmt.Errorf("record SMS %s to %s: %w", messageSID, to, err)
	}
	return nil
}

// UpdateSMSStatus applies a status callback (see caller.SMSStore).
func (db *DB) UpdateSMSStatus(ctx context.Context, messageSID, to, status string, errorCode int, at time.Time) (caller.SMS, bool, error) {
	var out caller.SMS
	var found bool
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		// The row with this SID, else the newest claim to this number still without one.
		key, err := smsKey(ctx, tx.QueryRowContext(ctx, `SELECT to_number, day FROM sms_sent
			WHERE message_sid = ?1 OR (message_sid = '' AND to_number = ?2 AND status IN (?3, ?4))
			ORDER BY (message_sid = ?1) DESC, created_at DESC LIMIT 1`, messageSID, to, caller.SMSClaimed, caller.SMSUnknown))
		if err != nil || key == [2]string{} {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sms_sent SET message_sid = ?, status = ?, error_code = ?, updated_at = ?
			WHERE to_number = ? AND day = ? AND status NOT IN `+smsFinal, messageSID, status, errorCode, at.UnixMilli(), key[0], key[1]); err != nil {
			return err
		}
		rows, err := querySMS(ctx, tx, `WHERE to_number = ? AND day = ?`, key[0], key[1])
		if err != nil || len(rows) == 0 {
			return err
		}
		out, found = rows[0], true
		return nil
	})
	if err != nil {
		return caller.SMS{}, false, fmt.Errorf("SMS status of %s: %w", messageSID, err)
	}
	return out, found, nil
}

func smsKey(_ context.Context, row *sql.Row) ([2]string, error) {
	var k [2]string
	if err := row.Scan(&k[0], &k[1]); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return [2]string{}, nil
		}
		return k, err
	}
	return k, nil
}

// MarkUnreachable remembers the number (the first code that said so is kept).
func (db *DB) MarkUnreachable(ctx context.Context, number string, code int, at time.Time) error {
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sms_unreachable (number, error_code, at) VALUES (?, ?, ?)
			ON CONFLICT (number) DO NOTHING`, number, code, at.UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("mark %s unreachable: %w", number, err)
	}
	return nil
}

// ListSMS lists the claims, most recent first.
func (db *DB) ListSMS(ctx context.Context, limit int) ([]caller.SMS, error) {
	out, err := querySMS(ctx, db.read, `ORDER BY created_at DESC, to_number LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list SMS: %w", err)
	}
	return out, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func querySMS(ctx context.Context, q querier, where string, args ...any) ([]caller.SMS, error) {
	rows, err := q.QueryContext(ctx, `SELECT to_number, day, from_number, reason, call_sid, message_sid, status,
		error_code, created_at, updated_at FROM sms_sent `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []caller.SMS{}
	for rows.Next() {
		var s caller.SMS
		var reason string
		var created, updated int64
		if err := rows.Scan(&s.To, &s.Day, &s.From, &reason, &s.CallSID, &s.MessageSID, &s.Status, &s.ErrorCode, &created, &updated); err != nil {
			return nil, err
		}
		s.Reason, s.CreatedAt, s.UpdatedAt = caller.SMSReason(reason), time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
		out = append(out, s)
	}
	return out, rows.Err()
}
