package voice

import (
	"context"
	"errors"
	"math/rand"
	"slices"
	"time"

	"queuebridge/sandbox/internal/twilioapi"
)

// The kinds of webhook the Voice engine sends, as WebhookFaults.Kinds and the timeline name them.
const (
	HookTwiML         = "twiml"           // the call's Url (and FallbackUrl, Redirect, Gather / Record actions)
	HookStatus        = "status-callback" // StatusCallback
	HookDialAction    = "dial-action"     // <Dial action>
	HookEnqueueAction = "enqueue-action"  // <Enqueue action>
	HookWaitURL       = "wait-url"        // <Enqueue waitUrl>
	HookAsyncAMD      = "async-amd"       // AsyncAmdStatusCallback
)

// WebhookFaults make the Voice engine's webhooks misbehave the way tests need to prove an
// application copes (like TaskRouter's DeliveryFaults). The zero value is no fault.
type WebhookFaults struct {
	// Seed seeds the draws that decide which webhooks Drop loses: the same seed and the same
	// sequence of webhooks lose the same ones.
	Seed int64 `json:"seed"`
	// Drop is the fraction (0–1) of webhooks never delivered. A dropped TwiML fetch (Url,
	// fallback, action) is an application that never answers: the call waits the URL's total
	// time (15 s by default, on the sandbox clock), then gets error 11200 (its FallbackUrl if
	// any, else "an application error has occurred" and the call hangs up).
	Drop float64 `json:"drop"`
	// Duplicate sends every webhook twice; for a fetch, the first answer is used.
	Duplicate bool `json:"duplicate"`
	// Delay holds every webhook that long (real time, as network latency) before it leaves.
	Delay time.Duration `json:"delay"`
	// Reorder swaps adjacent status callbacks of a call (the last one is never held back).
	Reorder bool `json:"reorder"`
	// Kinds limits the faults to these kinds (Hook…); empty: every kind.
	Kinds []string `json:"kinds,omitempty"`
}

// errDropped is a webhook lost to WebhookFaults.Drop.
var errDropped = errors.New("webhook dropped (sandbox fault)")

// SetWebhookFaults changes how later webhooks are delivered.
func (e *Engine) SetWebhookFaults(f WebhookFaults) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = f
	e.faultRand = rand.New(rand.NewSource(f.Seed))
}

// WebhookFaults are the faults in force.
func (e *Engine) WebhookFaults() WebhookFaults {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.faults
}

// faultPlan is what the faults do to one webhook.
type faultPlan struct {
	drop, duplicate bool
	delay           time.Duration
}

func (e *Engine) planLocked(kind string) faultPlan {
	f := e.faults
	if len(f.Kinds) > 0 && !slices.Contains(f.Kinds, kind) {
		return faultPlan{}
	}
	p := faultPlan{duplicate: f.Duplicate, delay: f.Delay}
	if f.Drop > 0 && e.faultRand != nil {
		p.drop = e.faultRand.Float64() < f.Drop
	}
	return p
}

func (e *Engine) plan(kind string) faultPlan {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.planLocked(kind)
}

// reorderLocked reports whether status callbacks are being reordered.
func (e *Engine) reorderLocked() bool {
	return e.faults.Reorder && (len(e.faults.Kinds) == 0 || slices.Contains(e.faults.Kinds, HookStatus))
}

// deliver sends one webhook under the faults in force.
func (c *call) deliver(ctx context.Context, kind, method, target string, p faultPlan, params map[string][]string) (*twilioapi.Response, error) {
	if p.delay > 0 {
		t := time.NewTimer(p.delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}
	if p.drop {
		return nil, errDropped
	}
	resp, err := c.e.hooks.Send(ctx, method, target, params)
	if p.duplicate {
		_, _ = c.e.hooks.Send(ctx, method, target, params)
		c.e.record(c.sid, "webhook duplicated (fault): "+kind, map[string]string{"url": target})
	}
	return resp, err
}
