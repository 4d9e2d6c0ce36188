package voice

import (
	"net/url"
)

// waitRequest is a document the caller's wait runs: the waitUrl, a <Redirect> there, or the
// action of a <Gather> there (with its Digits).
type waitRequest struct {
	url, method string
	params      url.Values
}

// What a <Gather> in the waitUrl does with the caller's digits. Twilio's <Enqueue> page allows
// <Gather> there but does not say where its action runs.
const (
	// WaitGatherInQueue (the default) requests the action with the digits and runs its TwiML
	// as wait TwiML: the caller stays in the queue, so a <Leave/> there leaves it (to the
	// Enqueue action, QueueResult=leave), a <Redirect> goes on waiting, and when the document
	// ends the waitUrl is requested again. Twilio's own Flex wait experience relies on this
	// (twilio-professional-services/flex-project-template,
	// serverless-functions/src/functions/features/callback-and-voicemail/studio/wait-experience.protected.js:
	// its Gather action answers a <Redirect> back to the wait loop and notes that <Record>
	// cannot run there "since we are still in the waitUrl TwiML execution").
	WaitGatherInQueue = "in-queue"
	// WaitGatherRedirect takes the caller out of the queue to the action, as an API redirect
	// would: QueueResult=redirected, the Enqueue action is not requested.
	WaitGatherRedirect = "redirect"
)

// SetWaitGatherAction chooses what a <Gather> with digits in the waitUrl does (docs silent):
// WaitGatherInQueue (default) or WaitGatherRedirect.
func (e *Engine) SetWaitGatherAction(mode string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.waitGatherRedirect = mode == WaitGatherRedirect
}

// waitGatherAction turns the action of a <Gather> in the waitUrl into what the wait does next.
func (c *call) waitGatherAction(next request) (waitRequest, error) {
	c.e.mu.Lock()
	redirect := c.e.waitGatherRedirect
	c.e.mu.Unlock()
	if redirect {
		return waitRequest{}, &redirectErr{req: next}
	}
	c.e.record(c.sid, "wait-url: gather action runs in the queue", map[string]string{"url": next.url})
	return waitRequest{url: next.url, method: next.method, params: next.params}, nil
}

// gatherDigits are the digits the persona presses at this <Gather>: in a queue's wait music,
// with QueueDigits set, those once it has waited QueueDigitsAfter (once per call); otherwise the
// part of Digits for this <Gather> (the call's n-th counted outside such queue Gathers).
func (c *call) gatherDigits() string {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	p := c.persona
	if c.inQueue != nil && p.QueueDigits != "" {
		if c.queueDigitsUsed || c.e.clock.Now().Sub(c.queuedAt) < p.QueueDigitsAfter {
			return ""
		}
		c.queueDigitsUsed = true
		return p.QueueDigits
	}
	digits := p.digitsAt(c.gathers)
	c.gathers++
	return digits
}
