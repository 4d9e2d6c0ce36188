package twiliogo

import (
	"context"
	"fmt"
	"strconv"

	api "github.com/twilio/twilio-go/rest/api/v2010"
	trapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"queuebridge/caller"
	"queuebridge/taskrouter"
)

// CallerTasks implements caller.Tasks for one workspace.
type CallerTasks struct {
	API          *API
	WorkspaceSID string
}

var _ caller.Tasks = CallerTasks{}

// CancelCallTask finds the call's open task with EvaluateTaskAttributes (call_sid is one of the
// attributes <Enqueue> gives a task) and cancels it. A task that ended meanwhile is not an
// error: its caller is out of the queue either way.
func (c CallerTasks) CancelCallTask(_ context.Context, callSID, reason string) (string, error) {
	if !taskrouter.ValidSID(callSID, taskrouter.PrefixCall) {
		return "", taskrouter.Errorf(taskrouter.EInvalid, "CallSid %q is not a CA… SID", callSID)
	}
	p := (&trapi.ListTaskParams{}).SetEvaluateTaskAttributes("call_sid == " + strconv.Quote(callSID)).
		SetAssignmentStatus([]string{"pending", "reserved"}).SetLimit(5)
	tasks, err := c.API.Client.TaskrouterV1.ListTask(c.WorkspaceSID, p)
	if err != nil {
		return "", classify("list tasks of call "+callSID, err)
	}
	if len(tasks) == 0 {
		return "", nil
	}
	sid := deref(tasks[0].Sid)
	_, err = c.API.Client.TaskrouterV1.UpdateTask(c.WorkspaceSID, sid,
		(&trapi.UpdateTaskParams{}).SetAssignmentStatus("canceled").SetReason(reason))
	if err != nil {
		return sid, fmt.Errorf("cancel task of call %s: %w", callSID, classify("cancel task "+sid, err))
	}
	return sid, nil
}

// Messages implements caller.Messages: Twilio's Message resource (Api.CreateMessage).
type Messages struct{ API *API }

var _ caller.Messages = Messages{}

// SendSMS creates an SMS from → to with the body and the status callback. A refusal is a
// *taskrouter.RemoteError with Twilio's error code (21610, 21635, …), so the caller side can
// tell a number that cannot take SMS.
func (m Messages) SendSMS(_ context.Context, from, to, body, statusCallback string) (string, string, error) {
	p := (&api.CreateMessageParams{}).SetFrom(from).SetTo(to).SetBody(body)
	if statusCallback != "" {
		p.SetStatusCallback(statusCallback)
	}
	msg, err := m.API.Client.Api.CreateMessage(p)
	if err != nil {
		return "", "", classify("create message to "+to, err)
	}
	if msg.Sid == nil {
		return "", "", &taskrouter.RemoteError{Kind: taskrouter.Ambiguous, Err: fmt.Errorf("create message to %s: Twilio answered without a message SID", to)}
	}
	return *msg.Sid, deref(msg.Status), nil
}
