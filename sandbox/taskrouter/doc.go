// Package taskrouter is the sandbox's TaskRouter v1: a behavioural stand-in for Twilio's
// TaskRouter, reached over HTTP by the real twilio-go client. It keeps workspaces, activities,
// queues, workers, workflows, tasks and reservations; routes tasks through the workflow's
// filters and targets to available workers; runs reservation, target and TTL timeouts on the
// injected clock; and sends every event, signed, to the workspace's EventCallbackUrl. It plays
// Twilio's published behaviour only and imports nothing of the bridge.
//
// Where Twilio's documentation (and TWILIO.md) is silent, the engine chooses, and says so:
//
//   - Capacity: a worker holds at most one pending, accepted or wrapping reservation at a time,
//     whatever MultiTaskEnabled says (one voice task per worker). Available workers are offered
//     tasks longest-idle first; tasks are served by priority, then FIFO (LIFO for LIFO queues).
//   - Multi-reservation: a task holds up to its queue's MaxReservedWorkers pending reservations;
//     one that ends without an accept (rejected, timed out) makes room for a new one, to any
//     eligible worker the re-offer rule below allows (docs silent on this).
//   - A worker that rejected a task and is still available may be offered it again, as Twilio
//     documents (a rejected task "is placed back into the queue"; move the worker to an
//     unavailable activity "to avoid having the Task immediately reassigned to the worker":
//     Handle assignment callbacks). SetReofferRejected(false) never offers it to them again.
//     A worker whose reservation timed out is not excluded: the TimeoutActivity keeps her away
//     until she is made available again.
//   - Reject without WorkerActivitySid leaves the worker in the activity she had before the
//     reservation (the queue's ReservationActivitySid is undone). Completion puts her in the
//     <Dial><Queue postWorkActivitySid> activity when one was given, else undoes the queue's
//     Reservation/AssignmentActivitySid, else leaves her activity alone.
//   - A target's timeout counts from the task's creation, as Twilio documents ("the queue
//     timeout is based on the current age of the Task"): a task already older than a target's
//     timeout leaves that target at once. A task with a pending
//     reservation does not leave its target when the timeout passes; it moves on once the
//     reservation is resolved without being accepted.
//   - Past the last target: workflow.timeout, then the task is canceled with reason
//     "Workflow Timeout". The TTL cancels only pending or reserved tasks, with reason
//     "Task TTL Exceeded". 1,000 rejections cancel with "Task rejected too many times";
//     reservation time-outs count toward them only under SetTimeoutsCountAsRejections(true)
//     (the documentation speaks of rejections only).
//     Completed and canceled tasks are deleted 5 minutes later (task.system-deleted).
//   - A task that matches no filter, with no default_filter, stays pending in no queue until
//     its TTL or an attribute update that makes a filter match. Updating a pending task's
//     attributes routes it again from the first filter.
//   - Expressions: a comparison involving a missing attribute is false whatever the operator
//     (!= and NOT IN included); "x == null" is true for a missing x (Twilio: a missing key
//     "resolves to NULL"), an index past an array's end too. Strings compare
//     case-sensitively. AND binds tighter than OR. skip_if sees "workers.available", the
//     number of workers that could be reserved in that target now. worker.activity_name and
//     the worker's other fields win over attributes of the same name; a plain activity_name
//     is an attribute when the worker has one.
//   - Errors: accepting or rejecting a reservation that is not pending is 400 with 20001 and
//     Twilio's message ("is already in state [x] and cannot be updated to [y]"); an
//     Instruction on a non-pending reservation is 400 with the instruction's code (40135
//     dequeue, 40114 call, 40123 redirect, 40136 conference); If-Match mismatch is 412 with
//     20412 (Twilio's generic codes mirror the HTTP status). DequeueReservation on a reservation
//     that is unknown or not pending is 400 with 14215 (Twilio's "Dial->Queue: Invalid
//     ReservationSid. Unable to dequeue", whose causes include "no longer pending").
//   - Instructions: dequeue and conference accept the reservation (no call is placed by this
//     engine); call and redirect are refused as not supported.
//   - Events go out in the order they are produced, per workspace, from one goroutine per
//     workspace, through the shared webhook sender: Twilio's connection defaults (one retry,
//     on a connection failure only) or the EventCallbackUrl's fragment overrides (#ct=, #rt=,
//     #tt=, #rc=, #rp=) decide the attempts. TaskRouter documents no retry policy of its own,
//     so the engine adds none: an event still not delivered is dropped and recorded (Kind
//     "webhook"). SetEventRedeliveries(n) posts it up to n more times (docs silent; 0 by
//     default). Filtered events are still recorded, with Detail["sent"] = "false".
//   - An omitted or empty TargetWorkers is "1==1" (TaskQueue resource: "Defaults to 1==1"); the
//     same description says tasks "will wait in the TaskQueue" without one, so
//     SetEmptyTargetWorkersWait(true) makes such a queue match nobody.
package taskrouter
