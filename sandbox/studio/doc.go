// Package studio is the sandbox's stand-in for Twilio Studio v2: the Flows REST API (with
// revisions, validation and read-only Executions and Steps) and the engine that runs a flow's
// published revision for every call that reaches the flow's webhook_url. Like Studio, the webhook
// answers TwiML and the execution continues on the next request the call makes, so the sandbox's
// Voice engine meets it only over signed HTTP.
//
// How a call runs. The Voice engine POSTs the call's parameters to
// BaseURL/v1/Accounts/{AC}/Flows/{FW}. The first request of a CallSid starts an execution (FN…) of
// the latest published revision at the trigger's incomingCall transition; widgets that need no
// call (split-based-on, set-variables, make-http-request) run at once, and the first widget that
// talks to the caller answers TwiML whose action URL, or trailing <Redirect>, is that step's
// continuation, BaseURL/v1/Accounts/{AC}/Flows/{FW}/Executions/{FN}/Steps/{FT}. That request
// decides the widget's event and the flow runs on. A transition with no next ends the execution
// and answers <Hangup/>. Every webhook and continuation must carry a valid X-Twilio-Signature over
// BaseURL+path+query and the form; anything else is refused with 403 before it is looked at.
// Retried requests (same CallSid, same continuation) get the first answer again. A request to the
// webhook with a final CallStatus (completed, busy, failed, no-answer, canceled) is taken as a
// status callback: it ends the call's execution, or starts none (a sandbox choice, so a call's
// StatusCallback may point at the webhook; Studio learns of hang-ups internally).
//
// Widgets and their events:
//   - say-play: <Say> (say, voice, language, loop) or <Play> (play, loop), then <Redirect>:
//     audioComplete.
//   - gather-input-on-call: <Gather input="dtmf" (plus "speech" when the speech transition is
//     wired, as Studio enables recognition only then) timeout numDigits finishOnKey …> around the
//     message, then <Redirect> to the same continuation because Twilio falls through a Gather
//     that got no input: Digits → keypress, SpeechResult → speech, neither → timeout. The request's
//     parameters become widgets.NAME.* (widgets.NAME.Digits …).
//   - split-based-on: the first "match" transition whose conditions all hold, else noMatch.
//     Text tests ignore case and surrounding spaces; less_than/greater_than compare numbers.
//     The date and time tests are accepted in definitions but fail the execution when reached.
//   - enqueue-call: <Enqueue workflowSid action waitUrl waitUrlMethod><Task priority
//     timeout>{task_attributes rendered with Liquid}</Task></Enqueue> (or a named queue). On the
//     action request: QueueResult queue-full → failedToEnqueue (Studio's documented case),
//     system-error → callFailure (documented), error → callFailure (our choice: an error, not a
//     full queue), anything else (bridged, hangup, leave, redirected …) → callComplete, since
//     Studio documents callComplete as "the Enqueue action URL is requested".
//   - record-voicemail: <Record action timeout maxLength finishOnKey playBeep …> then <Redirect>,
//     because Twilio skips the action URL on an empty recording and runs the next verb. Action
//     request with CallStatus=completed → hangup (even with a recording: the caller hung up);
//     with a RecordingUrl → recordingComplete; the Redirect → noAudio.
//   - make-http-request: a real request, signed with X-Twilio-Signature as Studio signs it (a
//     form over URL + parameters; a JSON body over the URL with bodySHA256 added) (method, url, content_type, body or parameters, all
//     rendered with Liquid) through Config.HTTPClient; 2xx → success, anything else or a transport
//     error → failed. widgets.NAME.status_code, content_type, body and, for application/json,
//     parsed.
//   - set-variables: flow.variables.KEY; event next.
//
// Other widget types Twilio has (run-function, connect-call-to, send-to-flex …) can be saved but
// fail the execution that reaches them: the error is recorded and the caller hears a short
// apology before <Hangup/>. Types Twilio does not have are rejected when the flow is saved.
//
// Liquid is a small subset: {{ dotted.paths }} into trigger.call.*, widgets.NAME.*, flow.flow_sid,
// flow.channel.address, flow.variables.*, contact.channel.address, with array indexes
// (parsed.items.0), string literals and the filters default, upcase, downcase, strip, size,
// url_encode, append and prepend, and the {% case %}{% when 'a', 'b' %}{% else %}{% endcase %}
// tag (what queuebridge's IVR maps the menu key with). Missing values render empty; other
// {% tags %} are not supported and stay as text. Rendered values are not escaped, as in Studio (a quote in a value breaks a JSON
// task_attributes there too).
//
// Definitions are validated when saved (create, update, Validate) and every problem is reported
// in one 400 with Twilio's Studio error 81022, "Flow definition validation failed: …" (the HTTP
// status is not documented; Twilio's 81022 page: "Check the error response details for an array
// of validation failures"), each problem with its property_path under details.errors (which
// twilio-go exposes), naming the states: states[]
// non-empty, initial_state "Trigger", exactly one trigger state named after it, unique names,
// known widget types, each widget's required properties, integer properties, transitions on the
// widget's events pointing to existing states. Drafts are validated too (valid is always true and
// errors empty on stored revisions). Every update makes a new revision, status-only ones included;
// calls run the latest revision saved as published.
//
// Not modelled: executions started over REST (POST Executions, incomingRequest), messaging
// triggers, flags.allow_concurrent_calls, the flow's execution timeout. An execution whose call
// hangs up while a widget waits with no request coming back (gather, say-play) stays active
// until a status callback reaches the webhook or it is ended over REST (Status=ended).
package studio
