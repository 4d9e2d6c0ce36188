package provision

import (
	"context"

	"github.com/twilio/twilio-go"
	api "github.com/twilio/twilio-go/rest/api/v2010"
	tr "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"queuebridge/studio"
)

// TwilioProvisionAPI is ProvisionAPI on twilio-go. twilio-go takes no context: each call checks
// ctx before it starts, so a cancelled apply stops between requests, never halfway through one.
type TwilioProvisionAPI struct {
	*studio.TwilioFlows
	rc *twilio.RestClient
}

var _ ProvisionAPI = (*TwilioProvisionAPI)(nil)

// NewTwilioProvisionAPI wraps a twilio-go client (pointed at Twilio or, through its HTTP
// client's transport, at the sandbox).
func NewTwilioProvisionAPI(rc *twilio.RestClient) *TwilioProvisionAPI {
	return &TwilioProvisionAPI{TwilioFlows: studio.NewTwilioFlows(rc), rc: rc}
}

func provStr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// provCall makes one request unless ctx is done: twilio-go takes no context, so this is where a
// cancelled apply stops. conv turns twilio-go's answer into the package's type.
func provCall[R, T any](ctx context.Context, call func() (R, error), conv func(R) T) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	res, err := call()
	if err != nil {
		return zero, err
	}
	return conv(res), nil
}

// provList is provCall for a list: conv turns each item.
func provList[R, T any](ctx context.Context, call func() ([]R, error), conv func(*R) T) ([]T, error) {
	return provCall(ctx, call, func(list []R) []T {
		out := make([]T, 0, len(list))
		for i := range list {
			out = append(out, conv(&list[i]))
		}
		return out
	})
}

// provDelete is provCall for a request that returns nothing.
func provDelete(ctx context.Context, call func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return call()
}

func provWorkspaceFrom(w *tr.TaskrouterV1Workspace) ProvisionedWorkspace {
	return ProvisionedWorkspace{
		SID: provStr(w.Sid), Name: provStr(w.FriendlyName), EventCallbackURL: provStr(w.EventCallbackUrl),
		EventsFilter: provStr(w.EventsFilter), TimeoutActivitySID: provStr(w.TimeoutActivitySid),
		DefaultActivitySID: provStr(w.DefaultActivitySid),
	}
}

// ListWorkspaces lists the workspaces called name.
func (t *TwilioProvisionAPI) ListWorkspaces(ctx context.Context, name string) ([]ProvisionedWorkspace, error) {
	return provList(ctx, func() ([]tr.TaskrouterV1Workspace, error) {
		return t.rc.TaskrouterV1.ListWorkspace((&tr.ListWorkspaceParams{}).SetFriendlyName(name))
	}, provWorkspaceFrom)
}

// CreateWorkspace creates a workspace with its name, event callback URL and events filter.
func (t *TwilioProvisionAPI) CreateWorkspace(ctx context.Context, ws ProvisionedWorkspace) (ProvisionedWorkspace, error) {
	params := (&tr.CreateWorkspaceParams{}).SetFriendlyName(ws.Name).
		SetEventCallbackUrl(ws.EventCallbackURL).SetEventsFilter(ws.EventsFilter)
	return provCall(ctx, func() (*tr.TaskrouterV1Workspace, error) { return t.rc.TaskrouterV1.CreateWorkspace(params) }, provWorkspaceFrom)
}

// UpdateWorkspace sets the callback, events filter and (when given) the activities.
func (t *TwilioProvisionAPI) UpdateWorkspace(ctx context.Context, ws ProvisionedWorkspace) (ProvisionedWorkspace, error) {
	params := (&tr.UpdateWorkspaceParams{}).SetFriendlyName(ws.Name).
		SetEventCallbackUrl(ws.EventCallbackURL).SetEventsFilter(ws.EventsFilter)
	if ws.TimeoutActivitySID != "" {
		params.SetTimeoutActivitySid(ws.TimeoutActivitySID)
	}
	if ws.DefaultActivitySID != "" {
		params.SetDefaultActivitySid(ws.DefaultActivitySID)
	}
	return provCall(ctx, func() (*tr.TaskrouterV1Workspace, error) { return t.rc.TaskrouterV1.UpdateWorkspace(ws.SID, params) }, provWorkspaceFrom)
}

// DeleteWorkspace deletes a workspace and everything in it.
func (t *TwilioProvisionAPI) DeleteWorkspace(ctx context.Context, sid string) error {
	return provDelete(ctx, func() error { return t.rc.TaskrouterV1.DeleteWorkspace(sid) })
}

func provActivityFrom(a *tr.TaskrouterV1Activity) ProvisionedActivity {
	return ProvisionedActivity{SID: provStr(a.Sid), Name: provStr(a.FriendlyName), Available: a.Available != nil && *a.Available}
}

// ListActivities lists a workspace's activities.
func (t *TwilioProvisionAPI) ListActivities(ctx context.Context, workspaceSID string) ([]ProvisionedActivity, error) {
	return provList(ctx, func() ([]tr.TaskrouterV1Activity, error) {
		return t.rc.TaskrouterV1.ListActivity(workspaceSID, &tr.ListActivityParams{})
	}, provActivityFrom)
}

// CreateActivity creates an activity.
func (t *TwilioProvisionAPI) CreateActivity(ctx context.Context, workspaceSID string, a ProvisionedActivity) (ProvisionedActivity, error) {
	params := (&tr.CreateActivityParams{}).SetFriendlyName(a.Name).SetAvailable(a.Available)
	return provCall(ctx, func() (*tr.TaskrouterV1Activity, error) {
		return t.rc.TaskrouterV1.CreateActivity(workspaceSID, params)
	}, provActivityFrom)
}

func provQueueFrom(q *tr.TaskrouterV1TaskQueue) ProvisionedQueue {
	return ProvisionedQueue{SID: provStr(q.Sid), Name: provStr(q.FriendlyName), TargetWorkers: provStr(q.TargetWorkers), MaxReservedWorkers: q.MaxReservedWorkers}
}

// ListQueues lists a workspace's task queues.
func (t *TwilioProvisionAPI) ListQueues(ctx context.Context, workspaceSID string) ([]ProvisionedQueue, error) {
	return provList(ctx, func() ([]tr.TaskrouterV1TaskQueue, error) {
		return t.rc.TaskrouterV1.ListTaskQueue(workspaceSID, &tr.ListTaskQueueParams{})
	}, provQueueFrom)
}

// CreateQueue creates a task queue.
func (t *TwilioProvisionAPI) CreateQueue(ctx context.Context, workspaceSID string, q ProvisionedQueue) (ProvisionedQueue, error) {
	params := (&tr.CreateTaskQueueParams{}).SetFriendlyName(q.Name).SetTargetWorkers(q.TargetWorkers).SetMaxReservedWorkers(q.MaxReservedWorkers)
	return provCall(ctx, func() (*tr.TaskrouterV1TaskQueue, error) {
		return t.rc.TaskrouterV1.CreateTaskQueue(workspaceSID, params)
	}, provQueueFrom)
}

// UpdateQueue sets a task queue's target expression and reserved-worker limit.
func (t *TwilioProvisionAPI) UpdateQueue(ctx context.Context, workspaceSID string, q ProvisionedQueue) (ProvisionedQueue, error) {
	params := (&tr.UpdateTaskQueueParams{}).SetTargetWorkers(q.TargetWorkers).SetMaxReservedWorkers(q.MaxReservedWorkers)
	return provCall(ctx, func() (*tr.TaskrouterV1TaskQueue, error) {
		return t.rc.TaskrouterV1.UpdateTaskQueue(workspaceSID, q.SID, params)
	}, provQueueFrom)
}

// DeleteQueue deletes a task queue.
func (t *TwilioProvisionAPI) DeleteQueue(ctx context.Context, workspaceSID, sid string) error {
	return provDelete(ctx, func() error { return t.rc.TaskrouterV1.DeleteTaskQueue(workspaceSID, sid) })
}

func provWorkerFrom(w *tr.TaskrouterV1Worker) ProvisionedWorker {
	return ProvisionedWorker{SID: provStr(w.Sid), Name: provStr(w.FriendlyName), Attributes: provStr(w.Attributes), ActivitySID: provStr(w.ActivitySid)}
}

// ListWorkers lists a workspace's workers with their attributes. Twilio leaves attributes out
// of list pages, so a worker listed without them is fetched.
func (t *TwilioProvisionAPI) ListWorkers(ctx context.Context, workspaceSID string) ([]ProvisionedWorker, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	list, err := t.rc.TaskrouterV1.ListWorker(workspaceSID, &tr.ListWorkerParams{})
	if err != nil {
		return nil, err
	}
	out := make([]ProvisionedWorker, 0, len(list))
	for i := range list {
		w := provWorkerFrom(&list[i])
		if list[i].Attributes == nil {
			w, err = provCall(ctx, func() (*tr.TaskrouterV1Worker, error) { return t.rc.TaskrouterV1.FetchWorker(workspaceSID, w.SID) }, provWorkerFrom)
			if err != nil {
				return nil, err
			}
		}
		out = append(out, w)
	}
	return out, nil
}

// CreateWorker creates a worker with its attributes and, when given, its first activity.
func (t *TwilioProvisionAPI) CreateWorker(ctx context.Context, workspaceSID string, w ProvisionedWorker) (ProvisionedWorker, error) {
	params := (&tr.CreateWorkerParams{}).SetFriendlyName(w.Name).SetAttributes(w.Attributes)
	if w.ActivitySID != "" {
		params.SetActivitySid(w.ActivitySID)
	}
	return provCall(ctx, func() (*tr.TaskrouterV1Worker, error) { return t.rc.TaskrouterV1.CreateWorker(workspaceSID, params) }, provWorkerFrom)
}

// UpdateWorker replaces a worker's attributes.
func (t *TwilioProvisionAPI) UpdateWorker(ctx context.Context, workspaceSID string, w ProvisionedWorker) (ProvisionedWorker, error) {
	params := (&tr.UpdateWorkerParams{}).SetAttributes(w.Attributes)
	return provCall(ctx, func() (*tr.TaskrouterV1Worker, error) {
		return t.rc.TaskrouterV1.UpdateWorker(workspaceSID, w.SID, params)
	}, provWorkerFrom)
}

// DeleteWorker deletes a worker.
func (t *TwilioProvisionAPI) DeleteWorker(ctx context.Context, workspaceSID, sid string) error {
	return provDelete(ctx, func() error { return t.rc.TaskrouterV1.DeleteWorker(workspaceSID, sid, &tr.DeleteWorkerParams{}) })
}

func provWorkflowFrom(w *tr.TaskrouterV1Workflow) ProvisionedWorkflow {
	return ProvisionedWorkflow{SID: provStr(w.Sid), Name: provStr(w.FriendlyName), Configuration: provStr(w.Configuration), TaskReservationTimeout: w.TaskReservationTimeout}
}

// ListWorkflows lists a workspace's workflows.
func (t *TwilioProvisionAPI) ListWorkflows(ctx context.Context, workspaceSID string) ([]ProvisionedWorkflow, error) {
	return provList(ctx, func() ([]tr.TaskrouterV1Workflow, error) {
		return t.rc.TaskrouterV1.ListWorkflow(workspaceSID, &tr.ListWorkflowParams{})
	}, provWorkflowFrom)
}

// CreateWorkflow creates a workflow; the reservation timeout is a parameter of its own, not
// part of the configuration JSON.
func (t *TwilioProvisionAPI) CreateWorkflow(ctx context.Context, workspaceSID string, wf ProvisionedWorkflow) (ProvisionedWorkflow, error) {
	params := (&tr.CreateWorkflowParams{}).SetFriendlyName(wf.Name).SetConfiguration(wf.Configuration).SetTaskReservationTimeout(wf.TaskReservationTimeout)
	return provCall(ctx, func() (*tr.TaskrouterV1Workflow, error) {
		return t.rc.TaskrouterV1.CreateWorkflow(workspaceSID, params)
	}, provWorkflowFrom)
}

// UpdateWorkflow sets a workflow's configuration and reservation timeout.
func (t *TwilioProvisionAPI) UpdateWorkflow(ctx context.Context, workspaceSID string, wf ProvisionedWorkflow) (ProvisionedWorkflow, error) {
	params := (&tr.UpdateWorkflowParams{}).SetConfiguration(wf.Configuration).SetTaskReservationTimeout(wf.TaskReservationTimeout)
	return provCall(ctx, func() (*tr.TaskrouterV1Workflow, error) {
		return t.rc.TaskrouterV1.UpdateWorkflow(workspaceSID, wf.SID, params)
	}, provWorkflowFrom)
}

// DeleteWorkflow deletes a workflow.
func (t *TwilioProvisionAPI) DeleteWorkflow(ctx context.Context, workspaceSID, sid string) error {
	return provDelete(ctx, func() error { return t.rc.TaskrouterV1.DeleteWorkflow(workspaceSID, sid) })
}

func provNumberFrom(n *api.ApiV2010IncomingPhoneNumber) ProvisionedNumber {
	return ProvisionedNumber{
		SID: provStr(n.Sid), PhoneNumber: provStr(n.PhoneNumber), VoiceURL: provStr(n.VoiceUrl),
		VoiceMethod: provStr(n.VoiceMethod), VoiceApplicationSID: provStr(n.VoiceApplicationSid),
	}
}

// ListNumbers lists the account's incoming numbers equal to phoneNumber.
func (t *TwilioProvisionAPI) ListNumbers(ctx context.Context, phoneNumber string) ([]ProvisionedNumber, error) {
	return provList(ctx, func() ([]api.ApiV2010IncomingPhoneNumber, error) {
		return t.rc.Api.ListIncomingPhoneNumber((&api.ListIncomingPhoneNumberParams{}).SetPhoneNumber(phoneNumber))
	}, provNumberFrom)
}

// UpdateNumber points a number's voice webhook; it clears any voice application, which would
// otherwise win over the URL.
func (t *TwilioProvisionAPI) UpdateNumber(ctx context.Context, n ProvisionedNumber) (ProvisionedNumber, error) {
	params := (&api.UpdateIncomingPhoneNumberParams{}).SetVoiceUrl(n.VoiceURL).SetVoiceMethod(n.VoiceMethod).SetVoiceApplicationSid(n.VoiceApplicationSID)
	return provCall(ctx, func() (*api.ApiV2010IncomingPhoneNumber, error) {
		return t.rc.Api.UpdateIncomingPhoneNumber(n.SID, params)
	}, provNumberFrom)
}
