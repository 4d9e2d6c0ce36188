package caller

import "context"

// Tasks is what the caller side asks of TaskRouter.
type Tasks interface {
	// CancelCallTask cancels the open (pending or reserved) task of the call, found by its
	// call_sid attribute, with the reason, and returns its SID ("" when the call has no open
	// task).
	CancelCallTask(ctx context.Context, callSID, reason string) (string, error)
}
