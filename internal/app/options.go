package app

import (
	"net/http"
	"time"

	"queuebridge/taskrouter"
)

// reconcileCadence is how often the reconciler runs and how far apart its Twilio requests are.
type reconcileCadence struct{ every, pace time.Duration }

var defaultReconcile = reconcileCadence{every: taskrouter.DefaultReconcileEvery, pace: taskrouter.DefaultReconcilePace}

// WithReconcile sets how often the reconciler runs (default taskrouter.DefaultReconcileEvery, 30 s)
// and the least time between its Twilio requests (default DefaultReconcilePace, 200 ms); a value
// not above zero keeps its default. Both are real time. It is not a deployment setting: tests
// against the sandbox, whose clock runs faster, shorten them, together with Config.Options.Now
// set to the sandbox's clock so that "overdue" is measured in the sandbox's time.
func WithReconcile(every, pace time.Duration) Option {
	return func(b *build) {
		if every > 0 {
			b.reconcile.every = every
		}
		if pace > 0 {
			b.reconcile.pace = pace
		}
	}
}

// WithMiddleware wraps the HTTP handler (every route): tests use it to make the bridge answer
// the way a failing deployment would, or to count what Twilio sent.
func WithMiddleware(wrap func(http.Handler) http.Handler) Option {
	return func(b *build) { b.middleware = wrap }
}

// WithSMSClock sets the clock of the SMS afterwards' days (default time.Now): tests move it to
// the next day.
func WithSMSClock(now func() time.Time) Option { return func(b *build) { b.smsNow = now } }
