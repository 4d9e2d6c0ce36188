// Package faultsuite holds the fault suite (issue 11): the real bridge against the sandbox with
// a fault injector between the bridge and Twilio, mode by mode, several hundred reservations
// each. It is a package of its own so its minutes run beside the other packages' tests, under
// their own time limit. docs/RELIABILITY.md has the counts.
package faultsuite
