// Package studio holds queuebridge's IVR: a Studio v2 flow definition kept as an embedded JSON
// template, rendered with the workflow SID and the bridge's URLs, checked against Studio's flow
// rules before Twilio sees it, and deployed with twilio-go (created or updated by friendly name,
// published, with a commit message that fingerprints the definition so an unchanged flow is
// never republished).
package studio
