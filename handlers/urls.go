package handlers

import (
	"net/url"
	"strings"
)

// The paths Twilio is configured with: a contract with deployments (docs/DESIGN.md). Every URL
// queuebridge gives Twilio is built here.
const (
	PathEvents         = "/taskrouter/events"
	PathDialQueue      = "/dial-queue"
	PathStatusCallback = "/status-callback"
)

// URLs builds the absolute URLs Twilio reaches queuebridge at, from PUBLIC_BASE_URL. It
// implements taskrouter.URLs.
type URLs struct{ base string }

// NewURLs returns the URL builder for a public base URL such as https://bridge.example.com.
func NewURLs(publicBaseURL string) URLs {
	return URLs{base: strings.TrimRight(publicBaseURL, "/")}
}

// Events is the workspace's event callback URL.
func (u URLs) Events() string { return u.base + PathEvents }

// AgentAnswer is the agent leg's TwiML URL (and its Dial's action URL), keyed by the reservation.
func (u URLs) AgentAnswer(reservationSID, taskSID string) string {
	return u.base + PathDialQueue + "?" + url.Values{"reservation": {reservationSID}, "task": {taskSID}}.Encode()
}

// AgentStatus is the agent leg's status callback URL.
func (u URLs) AgentStatus(reservationSID string) string {
	return u.base + PathStatusCallback + "?" + url.Values{"reservation": {reservationSID}}.Encode()
}
