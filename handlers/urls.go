package handlers

import (
	"net/url"
	"strconv"
	"strings"
)

// The paths Twilio is configured with: a contract with deployments (docs/DESIGN.md). Every URL
// queuebridge gives Twilio is built here.
const (
	PathEvents         = "/taskrouter/events"
	PathDialQueue      = "/dial-queue"
	PathStatusCallback = "/status-callback"
	PathAgentConfirm   = "/agent-confirm"
)

// The operator page's paths, for people (docs/DESIGN.md): the page, its event stream, and the
// login form's token cookie.
const (
	PathOperator       = "/operator"
	PathOperatorEvents = "/operator/events"
	PathOperatorLogin  = "/operator/login"
	PathOperatorLogout = "/operator/logout"
)

// Overrides are Twilio's webhook connection overrides, carried by every URL queuebridge gives
// Twilio (its events, the agent leg's TwiML, status callbacks and Dial action). By default
// Twilio retries once, and only when the connection fails: a 5xx (the bridge could not commit)
// or a read time-out would lose the event. These retry connection failures, read time-outs and
// 5xx, three times, within Twilio's 15 s budget (connect 2 s, read 4 s). Twilio honours them on
// every product's webhooks (TaskRouter's EventCallbackUrl included) and neither sends nor signs
// the fragment, so signatures are checked over the URL without it.
// Source: https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides
const Overrides = "#ct=2000&rt=4000&tt=15000&rc=3&rp=ct,rt,5xx"

// URLs builds the absolute URLs Twilio reaches queuebridge at, from PUBLIC_BASE_URL, each with
// the connection Overrides. It implements taskrouter.URLs.
type URLs struct{ base string }

// NewURLs returns the URL builder for a public base URL such as https://bridge.example.com.
func NewURLs(publicBaseURL string) URLs {
	return URLs{base: strings.TrimRight(publicBaseURL, "/")}
}

// Events is the workspace's event callback URL.
func (u URLs) Events() string { return u.base + PathEvents + Overrides }

// AgentAnswer is the agent leg's TwiML URL (and its Dial's action URL), keyed by the reservation.
func (u URLs) AgentAnswer(reservationSID, taskSID string) string {
	return u.base + PathDialQueue + "?" + url.Values{"reservation": {reservationSID}, "task": {taskSID}}.Encode() + Overrides
}

// AgentStatus is the agent leg's status callback URL. The task spares PostgreSQL a round trip
// per callback (taskrouter.Store.UpdateReservation).
func (u URLs) AgentStatus(reservationSID, taskSID string) string {
	return u.base + PathStatusCallback + "?" + url.Values{"reservation": {reservationSID}, "task": {taskSID}}.Encode() + Overrides
}

// AgentConfirm is the action URL of the agent's confirmation Gather, for one attempt.
func (u URLs) AgentConfirm(reservationSID, taskSID string, attempt int) string {
	return u.base + PathAgentConfirm + "?" + url.Values{"reservation": {reservationSID}, "task": {taskSID},
		"attempt": {strconv.Itoa(attempt)}}.Encode() + Overrides
}
