// Package caller is the caller's side of queuebridge: what a caller hears while waiting in the
// queue (hold music, their position and a wait estimate, the key that leaves the queue for
// voicemail), the opening hours that decide whether the queue takes them at all, the
// voicemails and call recordings Twilio reports, and the one SMS a caller may get afterwards.
// Like the taskrouter package it imports only the standard library: the HTTP adapter parses
// Twilio's requests into its types, the store keeps its records, the twilio-go adapter carries
// out what it asks of Twilio.
package caller
