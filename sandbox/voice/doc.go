// Package voice is the sandbox's stand-in for Twilio Programmable Voice (API 2010-04-01): the
// Calls, IncomingPhoneNumbers, OutgoingCallerIds and Queues resources, a call engine that moves calls through
// Twilio's statuses with signed status callbacks, answering machine detection driven by scripted
// personas, and a TwiML executor (Say, Play, Pause, Gather, Record, Redirect, Hangup, Reject,
// Leave, Enqueue with TaskRouter or a named queue, Dial with Queue or Number). It plays only
// Twilio's published behaviour and reaches TaskRouter only through twilioapi.TaskRouter.
//
// # Concurrency
//
// Every call runs in its own goroutine, fed by a mailbox of events (timers from the injected
// clock, REST updates, TaskRouter notifications, the other leg of a bridge). A call's status
// callbacks leave in order from one delivery goroutine per call. The engine lock is never held
// while a webhook is sent or TaskRouter is called. With a clock.Manual, each timer that fires
// waits until the engine is idle again, so Advance returns with every consequence applied;
// Settle waits for work started outside a timer (a REST request, PlaceInboundCall).
//
// # Model (where Twilio publishes no figure, the sandbox picks one)
//
//   - Outbound pacing: API calls are dialed at 1 per second per account (Twilio's default;
//     SetCallsPerSecond changes it); a call waiting for its turn stays queued and its
//     queue_time says how long it waited (ms).
//   - Outbound: queued → initiated (callback only: the resource stays queued) → ringing → per
//     the persona: in-progress after AnswerAfter, busy (SIP 486) or failed (SIP 500) at once,
//     no-answer (SIP 487) when Timeout (default 60 s) passes first. The Url is fetched only for
//     answered calls. Status=canceled (and Status=completed) on a queued or ringing call gives
//     canceled; Status=completed on a live call gives completed; anything on an ended call is
//     error 21220. Status=canceled on an in-progress call "will not affect" it (Twilio's API
//     spec); the HTTP answer is undocumented: 200 with the call unchanged by default, 400 /
//     21220 with SetCancelInProgress(true).
//   - Caller ID: the From of Calls.create must be one of the account's IncomingPhoneNumbers or
//     a verified outgoing caller ID (VerifyCallerID; listed under OutgoingCallerIds), else 400
//     / 21210. client: identities are not checked. Inbound calls (PlaceInboundCall) and
//     <Dial callerId> child legs are not REST-created and are not checked.
//   - Inbound (PlaceInboundCall): ringing while the VoiceUrl is fetched (CallStatus=ringing),
//     answered by the first verb that is not <Reject>; <Reject> leaves it busy.
//   - AMD: see verdict. Synchronous AMD fetches the Url once detection ends, with AnsweredBy and
//     MachineDetectionDuration (ms); AsyncAmd fetches it on answer and posts the verdict to
//     AsyncAmdStatusCallback. SendDigits disables AMD. A redirect during detection abandons it.
//   - Verb timing: <Say> 0.4 s a word per loop, <Play> 5 s per loop (loop="0" plays once),
//     <Pause> its length. <Gather>: the persona's Digits for that Gather (one comma-separated
//     part per Gather of the call, in order), pressed PressAfter (default 1 s) after the
//     prompts, else the timeout and the next verb (the action with an empty Digits under
//     actionOnEmptyResult). <Record>: the persona's
//     MessageLength followed by `timeout` seconds of silence; no message means no recording,
//     no action request, next verb.
//   - Queues: <Enqueue workflowSid> calls TaskRouter.EnqueueCall with the call's attributes
//     (call_sid, account_sid, from, to, caller, called, direction, call_status, api_version)
//     merged with the <Task> JSON (the JSON wins); the call waits in a queue of the workflow's
//     (it has a QueueSid; not listed under Queues). The waitUrl gets QueuePosition, QueueSid,
//     QueueTime, AvgQueueTime, CurrentQueueSize and MaxQueueSize and is requested again each
//     time its TwiML runs out of verbs; Play, Say, Pause, Gather, Redirect, Hangup and Leave
//     run there (others are skipped). <Leave/>: QueueResult=leave; <Hangup/>: hangup; Gather
//     digits with an action: redirected, out of the queue. Docs silent: a <Redirect> there keeps
//     the caller waiting and runs its document as wait music; a waitUrl that fails, or whose
//     TwiML takes no time, leaves the caller holding in silence (no request loop). Bridging, a
//     canceled task and the persona's patience interrupt the wait music at once. A caller's Patience counts from entering the
//     queue; a persona's HangUpAfter (from the answer) abandons wherever the call is. QueueResult: bridged (after the bridge ends), hangup (the caller or the API hung
//     up: TaskRouter.CallerLeftQueue(task, "hangup"); the action is still requested and its
//     answer ignored), leave (QueueListener.TaskCanceled, or <Leave/>), redirected (API Url
//     update), error (bad <Task> JSON), system-error (TaskRouter refused or is not wired),
//     queue-full (named queues, 1000 callers: Twilio's default max size). <Enqueue>name</Enqueue> without workflowSid uses
//     a named queue, visible read-only under Queues.
//   - <Dial><Queue reservationSid>: TaskRouter.DequeueReservation; on success the agent leg and
//     the waiting caller are bridged until either persona hangs up (TalkFor counts from the
//     bridge) or the API ends a leg; then TaskRouter.BridgeEnded, once. The leg that is left
//     goes on: the caller to its Enqueue action (QueueResult=bridged) or next verb, the agent
//     to its Dial action (DialCallStatus=completed, DialCallSid, DialCallDuration) or next verb.
//     A leg that hangs up still has its action requested (Enqueue: QueueResult=bridged; Dial:
//     DialCallStatus=completed) and the answer is ignored.
//     A failed dequeue (14215) ends the Dial at once with DialCallStatus=failed; the error code
//     is in the timeline (Twilio documents no parameter for it).
//   - <Dial><Number>: a child leg (outbound-dial, parent_call_sid) to that number's persona,
//     driven by the parent's goroutine; DialCallStatus completed, busy, no-answer (Dial timeout,
//     default 30 s), failed or canceled.
//   - Webhooks (twilioapi.Webhooks): Twilio's connection defaults and the URL's #ct/rt/tt/rc/rp
//     overrides; real-time timeouts. WebhookFaults (SetWebhookFaults): seeded Drop, Duplicate,
//     real-time Delay, Reorder of status callbacks, by kind (Hook…). A dropped TwiML fetch is
//     an application that never answers: the call waits the URL's total time on the clock,
//     then 11200 (FallbackUrl, else the application error).
//   - Application errors end the call: 11200 (the document could not be fetched, after the
//     FallbackUrl if any), 12100 (not XML, or not a <Response>), 12200 (a verb or noun the
//     sandbox does not know), 13223 (Dial to an invalid number).
//   - Recordings: <Record recordingStatusCallback> and a recorded <Dial record=…> post the
//     recording's status (completed) when it is ready; <Record transcribe transcribeCallback>
//     posts the persona's Transcript. They leave behind the call's queued status callbacks.
//
// Not modelled: recordings and transcriptions as
// resources, conferences, SIP and client legs beyond ringing a persona, the Twilio Events and
// Notifications subresources.
package voice
