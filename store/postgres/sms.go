package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"queuebridge/caller"
)

// The SMS afterwards (caller.SMSStore), with SQLite's semantics. Replicas share the claims: the
// number's advisory lock (lockSMS) serializes a claim with another replica's claim or marking,
// so of two replicas texting one caller the same day exactly one claims it.

var _ caller.SMSStore = (*DB)(nil)

const smsFinal = `('delivered', 'undelivered', 'failed')`

// ClaimSMS claims the number's SMS of the day unless it was claimed already or the number is
// known unreachable.
func (db *DB) ClaimSMS(ctx context.Context, s caller.SMS) (caller.Claim, error) {
	var claim caller.Claim
	err := db.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if err := db.lock(ctx, tx, lockSMS, s.To); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM sms_unreachable WHERE number = $1`, s.To).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			claim = caller.KnownUnreachable
			return nil
		}
		tag, err := tx.Exec(ctx, `INSERT INTO sms_sent
			(to_number, day, from_number, reason, call_sid, status, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (to_number, day) DO NOTHING`,
			s.To, s.Day, s.From, string(s.Reason), s.CallSID, s.Status, millis(s.CreatedAt), millis(s.UpdatedAt))
		if err != nil {
			return err
		}
		claim = caller.Claimed
		if tag.RowsAffected() == 0 {
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
	err := db.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE sms_sent SET
			message_sid = CASE WHEN message_sid = '' THEN $1 ELSE message_sid END,
			status = CASE WHEN status = $2 THEN $3 ELSE status END,
			error_code = CASE WHEN status = $2 THEN $4 ELSE error_code END,
			updated_at = $5 WHERE to_number = $6 AND day = $7`,
			messageSID, caller.SMSClaimed, status, errorCode, millis(at), to, day)
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
	err := db.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		out, found = caller.SMS{}, false
		var key [2]string
		// The row with this SID, else the newest claim to this number still without one.
		err := tx.QueryRow(ctx, `SELECT to_number, day FROM sms_sent
			WHERE message_sid = $1 OR (message_sid = '' AND to_number = $2 AND status IN ($3, $4))
			ORDER BY (message_sid = $1) DESC, created_at DESC LIMIT 1`, messageSID, to, caller.SMSClaimed, caller.SMSUnknown).Scan(&key[0], &key[1])
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := db.lock(ctx, tx, lockSMS, key[0]); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE sms_sent SET message_sid = $1, status = $2, error_code = $3, updated_at = $4
			WHERE to_number = $5 AND day = $6 AND status NOT IN `+smsFinal, messageSID, status, errorCode, millis(at), key[0], key[1]); err != nil {
			return err
		}
		rows, err := db.querySMS(ctx, tx, `WHERE to_number = $1 AND day = $2`, key[0], key[1])
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

// MarkUnreachable remembers the number (the first code that said so is kept).
func (db *DB) MarkUnreachable(ctx context.Context, number string, code int, at time.Time) error {
	err := db.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if err := db.lock(ctx, tx, lockSMS, number); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO sms_unreachable (number, error_code, at) VALUES ($1, $2, $3)
			ON CONFLICT (number) DO NOTHING`, number, code, millis(at))
		return err
	})
	if err != nil {
		return fmt.Errorf("mark %s unreachable: %w", number, err)
	}
	return nil
}

// ListSMS lists the claims, most recent first.
func (db *DB) ListSMS(ctx context.Context, limit int) ([]caller.SMS, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	out, err := db.querySMS(ctx, db.pool, `ORDER BY created_at DESC, to_number LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list SMS: %w", err)
	}
	return out, nil
}

type pgQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func (db *DB) querySMS(ctx context.Context, q pgQuerier, where string, args ...any) ([]caller.SMS, error) {
	rows, err := q.Query(ctx, `SELECT to_number, day, from_number, reason, call_sid, message_sid, status,
		error_code, created_at, updated_at FROM sms_sent `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []caller.SMS{}
	for rows.Next() {
		var s caller.SMS
		var reason string
		if err := rows.Scan(&s.To, &s.Day, &s.From, &reason, &s.CallSID, &s.MessageSID, &s.Status, &s.ErrorCode,
			(*millisTime)(&s.CreatedAt), (*millisTime)(&s.UpdatedAt)); err != nil {
			return nil, err
		}
		s.Reason = caller.SMSReason(reason)
		out = append(out, s)
	}
	return out, rows.Err()
}
