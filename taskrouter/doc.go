// Package taskrouter is queuebridge's domain: the TaskRouter events and reservations it acts on,
// the agent-leg outcomes (AMD verdicts and call statuses), and the bridge, the state machine that
// turns a reservation into a call to the agent's phone and ends every reservation in an accept,
// a reject or a cancel. It talks to Twilio and to storage only through the small interfaces it
// defines here (Store, Voice, Router); the twilio-go implementation of Voice and Router lives in
// this package too, the SQLite Store in package store.
package taskrouter
