package handlers_test

import (
	"maps"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/testkit"
	"queuebridge/sandbox/twiliosig"
	"queuebridge/taskrouter"
)

// signedRoute is one webhook route, with a request to it that changes r's state when signed.
type signedRoute struct {
	name string
	// opts configure the bridge the route is tested on.
	opts []harnessOption
	// setup brings r to the state the request acts on.
	setup func(h *harness, r res, call string)
	// request is the webhook: its path and query, its form, and another route's path and query
	// (a signature made for that one must not pass here).
	request func(r res, call string) (target string, form url.Values, elsewhere string)
	// status and after are the answer to the correctly signed request and r's state after it.
	status int
	after  taskrouter.State
}

var signedRoutes = []signedRoute{
	{
		name:  "/taskrouter/events",
		setup: func(h *harness, r res, _ string) { h.sendEvent("reservation.created", r) },
		request: func(r res, _ string) (string, url.Values, string) {
			return "/taskrouter/events", event("reservation.canceled", r), "/status-callback?reservation=" + r.SID
		},
		status: http.StatusOK, after: taskrouter.StateCanceled,
	},
	{
		name:  "/dial-queue (the answered leg's TwiML request)",
		setup: func(h *harness, r res, _ string) { h.sendEvent("reservation.created", r) },
		request: func(r res, call string) (string, url.Values, string) {
			return dialQueuePath(r), url.Values{"CallSid": {call}, "AccountSid": {accountSID}, "CallStatus": {"in-progress"},
				"Direction": {"outbound-api"}, "AnsweredBy": {"human"}}, "/taskrouter/events"
		},
		status: http.StatusOK, after: taskrouter.StateBridging,
	},
	{
		name: "/dial-queue (the Dial's action)",
		setup: func(h *harness, r res, call string) {
			h.sendEvent("reservation.created", r)
			assertConnects(h.t, h.answer(r, call, "human"), r)
		},
		request: func(r res, call string) (string, url.Values, string) {
			return dialQueuePath(r), url.Values{"CallSid": {call}, "AccountSid": {accountSID}, "CallStatus": {"in-progress"},
				"DialCallStatus": {"failed"}}, "/status-callback?reservation=" + r.SID
		},
		status: http.StatusOK, after: taskrouter.StateRejected,
	},
	{
		name:  "/status-callback",
		setup: func(h *harness, r res, _ string) { h.sendEvent("reservation.created", r) },
		request: func(r res, call string) (string, url.Values, string) {
			return "/status-callback?reservation=" + r.SID, url.Values{"CallSid": {call}, "AccountSid": {accountSID},
				"CallStatus": {"busy"}}, dialQueuePath(r)
		},
		status: http.StatusNoContent, after: taskrouter.StateRejected,
	},
	{
		name: "/agent-confirm (the confirmation Gather's action)",
		opts: []harnessOption{withOptions(withConfirmation)},
		setup: func(h *harness, r res, call string) {
			h.sendEvent("reservation.created", r)
			h.answer(r, call, "human")
			require.Equal(h.t, taskrouter.StateConfirming, h.reservation(r).State)
		},
		request: func(r res, call string) (string, url.Values, string) {
			return confirmPath(r, 1), url.Values{"CallSid": {call}, "AccountSid": {accountSID}, "CallStatus": {"in-progress"},
				"Digits": {"1"}}, dialQueuePath(r)
		},
		status: http.StatusOK, after: taskrouter.StateBridging,
	},
}

// Each kind of signed request (the Dial action included) refuses a request whose X-Twilio-Signature is missing, forged, made with
// another token, right in its first characters only, cut short, made for another route or
// reservation, or made over other parameters; a refused request changes nothing. The same
// request correctly signed then acts, so each refusal was the signature's doing.
func TestSignedRoutesRefuseEveryKindOfBadSignature(t *testing.T) {
	for _, route := range signedRoutes {
		t.Run(route.name, func(t *testing.T) {
			h := newHarness(t, append([]harnessOption{withoutDispatcher()}, route.opts...)...)
			r, call := newRes(), testkit.SID("CA")
			route.setup(h, r, call)
			before := h.reservation(r)
			target, form, elsewhere := route.request(r, call)
			good := twiliosig.Sign(authToken, publicBase+target, form)
			other := maps.Clone(form)
			other.Set("AccountSid", "AC00000000000000000000000000000000")
			for _, bad := range []struct{ why, sig string }{
				{"missing", ""},
				{"forged", "0/KCTR6DLpKmkAf8muzZqo1nDgQ="},
				{"made with another token", twiliosig.Sign("another-token", publicBase+target, form)},
				{"right in its first 16 characters only", good[:16] + flipped(good[16:])},
				{"wrong in its last character only", good[:len(good)-2] + flipped(good[len(good)-2:len(good)-1]) + good[len(good)-1:]},
				{"its first 16 characters", good[:16]},
				{"all but its last character", good[:len(good)-1]},
				{"followed by more", good + "AAAA"},
				{"made for another route", twiliosig.Sign(authToken, publicBase+elsewhere, form)},
				{"made for another reservation", twiliosig.Sign(authToken, publicBase+target+"&reservation=WR0", form)},
				{"made over other parameters", twiliosig.Sign(authToken, publicBase+target, other)},
			} {
				status, body := h.hooks.PostSigned(t, target, form, bad.sig)
				assert.Equal(t, http.StatusForbidden, status, "a signature %s: %s", bad.why, body)
				assert.Equal(t, before, h.reservation(r), "a request whose signature is %s changes nothing", bad.why)
			}
			assert.Empty(t, h.tw.Requests(), "refused requests make no Twilio request")

			status, body := h.hooks.PostSigned(t, target, form, good)
			require.Equal(t, route.status, status, body)
			assert.Equal(t, route.after, h.reservation(r).State, "the correctly signed request acts")
		})
	}
}

// flipped changes every character of a base64 string into another base64 character.
func flipped(s string) string {
	out := []byte(s)
	for i, c := range out {
		if c == 'A' {
			out[i] = 'B'
		} else {
			out[i] = 'A'
		}
	}
	return string(out)
}
