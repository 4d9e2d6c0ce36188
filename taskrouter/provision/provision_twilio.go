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

func provWorkspaceFrom(w *tr.TaskrouterV1Workspace) ProvisionedWorkspace {
	return ProvisionedWorkspace{
		SID: provStr(w.Sid), Name: provStr(w.FriendlyName), EventCallbackURL: provStr(w.EventCallbackUrl),
		EventsFilter: provStr(w.EventsFilter), TimeoutActivitySID: provStr(w.TimeoutActivitySid),
		DefaultActivitySID: provStr(w.DefaultActivitySid),
	}
}

// ListWorkspaces lists the workspaces called name.
func (t *TwilioProvisionAPI) ListWorkspaces(ctx context.Context, name string) ([]ProvisionedWorkspace, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	list, err := t.rc.TaskrouterV1.ListWorkspace((&tr.ListWorkspaceParams{}).SetFriendlyName(name))
	if err != nil {
		return nil, err
	}
	out := make([]ProvisionedWorkspace, 0, len(list))
	for i := range list {
		out = append(out, provWorkspaceFrom(&list[i]))
	}
	return out, nil
}

// CreateWorkspace creates a workspace with its name, event callback URL and events filter.
func (t *TwilioProvisionAPI) CreateWorkspace(ctx context.Context, ws ProvisionedWorkspace) (ProvisionedWorkspace, error) {
	if err := ctx.Err(); err != nil {
		return ProvisionedWorkspace{}, err
	}
	params := (&tr.CreateWorkspaceParams{}).SetFriendlyName(ws.Name).
		SetEventCallbackUrl(ws.EventCallbackURL).SetEventsFilter(ws.EventsFilter)
	w, err := t.rc.TaskrouterV1.CreateWorkspace(params)
	if err != nil {
		return ProvisionedWorkspace{}, err
	}
	return provWorkspaceFrom(w), nil
}

// UpdateWorkspace sets the callback, events filter and (when given) the activities.
func (t *TwilioProvisionAPI) UpdateWorkspace(ctx context.Context, ws ProvisionedWorkspace) (ProvisionedWorkspace, error) {
	if err := ctx.Err(); err != nil {
		return ProvisionedWorkspace{}, err
	}
	params := (&tr.UpdateWorkspaceParams{}).SetFriendlyName(ws.Name).
		SetEventCallbackUrl(ws.EventCallbackURL).SetEventsFilter(ws.EventsFilter)
	if ws.TimeoutActivitySID != "" {
		params.SetTimeoutActivitySid(ws.TimeoutActivitySID)
	}
	if ws.DefaultActivitySID != "" {
		params.SetDefaultActivitySid(ws.DefaultActivitySID)
	}
	w, err := t.rc.TaskrouterV1.UpdateWorkspace(ws.SID, params)
	if err != nil {
		return ProvisionedWorkspace{}, err
	}
	return provWorkspaceFrom(w), nil
}

// DeleteWorkspace deletes a workspace and everything in it.
func (t *TwilioProvisionAPI) DeleteWorkspace(ctx context.Context, sid string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return t.rc.TaskrouterV1.DeleteWorkspace(sid)
}

// ListActivities lists a workspace's activities.
func (t *TwilioProvisionAPI) ListActivities(ctx context.Context, workspaceSID string) ([]ProvisionedActivity, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	list, err := t.rc.TaskrouterV1.ListActivity(workspaceSID, &tr.ListActivityParams{})
	if err != nil {
		return nil, err
	}
	out := make([]ProvisionedActivity, 0, len(list))
	for _, a := range list {
		out = append(out, ProvisionedActivity{SID: provStr(a.Sid), Name: provStr(a.FriendlyName), Available: a.Available != nil && *a.Available})
	}
	return out, nil
}

// CreateActivity creates an activity.
func (t *TwilioProvisionAPI) CreateActivity(ctx context.Context, workspaceSID string, a ProvisionedActivity) (ProvisionedActivity, error) {
	if err := ctx.Err(); err != nil {
		return ProvisionedActivity{}, err
	}
	created, err := t.rc.TaskrouterV1.CreateActivity(workspaceSID, (&tr.CreateActivityParams{}).SetFriendlyName(a.Name).SetAvailable(a.Available))
	if err != nil {
		return ProvisionedActivity{}, err
	}
	return ProvisionedActivity{SID: provStr(created.Sid), Name: provStr(created.FriendlyName), Available: created.Available != nil && *created.Available}, nil
}

func provQueueFrom(q *tr.TaskrouterV1TaskQueue) ProvisionedQueue {
	return ProvisionedQueue{SID: provStr(q.Sid), Name: provStr(q.FriendlyName), TargetWorkers: provStr(q.TargetWorkers), MaxReservedWorkers: q.MaxReservedWorkers}
}

// ListQueues lists a workspace's task queues.
func (t *TwilioProvisionAPI) ListQueues(ctx context.Context, workspaceSID string) ([]ProvisionedQueue, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	list, err := t.rc.TaskrouterV1.ListTaskQueue(workspaceSID, &tr.ListTaskQueueParams{})
	if err != nil {
		return nil, err
	}
	out := make([]ProvisionedQueue, 0, len(list))
	for i := range list {
		out = append(out, provQueueFrom(&list[i]))
	}
	return out, nil
}

// CreateQueue creates a task queue.
func (t *TwilioProvisionAPI) CreateQueue(ctx context.Context, workspaceSID string, q ProvisionedQueue) (ProvisionedQueue, error) {
	if err := ctx.Err(); err != nil {
		return ProvisionedQueue{}, err
	}
	params := (&tr.CreateTaskQueueParams{}).SetFriendlyName(q.Name).SetTargetWorkers(q.TargetWorkers).SetMaxReservedWorkers(q.MaxReservedWorkers)
	created, err := t.rc.TaskrouterV1.CreateTaskQueue(workspaceSID, params)
	if err != nil {
		return ProvisionedQueue{}, err
	}
	return provQueueFrom(created), nil
}

// UpdateQueue sets a task queue's target expression and reserved-worker limit.
func (t *TwilioProvisionAPI) UpdateQueue(ctx context.Context, workspaceSID string, q ProvisionedQueue) (ProvisionedQueue, error) {
	if err := ctx.Err(); err != nil {
		return ProvisionedQueue{}, err
	}
	params := (&tr.UpdateTaskQueueParams{}).SetTargetWorkers(q.TargetWorkers).SetMaxReservedWorkers(q.MaxReservedWorkers)
	updated, err := t.rc.TaskrouterV1.UpdateTaskQueue(workspaceSID, q.SID, params)
	if err != nil {
		return ProvisionedQueue{}, err
	}
	return provQueueFrom(updated), nil
}

// DeleteQueue deletes a task queue.
func (t *TwilioProvisionAPI) DeleteQueue(ctx context.Context, workspaceSID, sid string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return t.rc.TaskrouterV1.DeleteTaskQueue(workspaceSID, sid)
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
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			full, err := t.rc.TaskrouterV1.FetchWorker(workspaceSID, w.SID)
			if err != nil {
				return nil, err
			}
			w = provWorkerFrom(full)
		}
		out = append(out, w)
	}
	return out, nil
}

// CreateWorker creates a worker with its attributes and, when given, its first activity.
func (t *TwilioProvisionAPI) CreateWorker(ctx context.Context, workspaceSID string, w ProvisionedWorker) (ProvisionedWorker, error) {
	if err := ctx.Err(); err != nil {
		return ProvisionedWorker{}, err
	}
	params := (&tr.CreateWorkerParams{}).SetFriendlyName(w.Name).SetAttributes(w.Attributes)
	if w.ActivitySID != "" {
		params.SetActivitySid(w.ActivitySID)
	}
	created, err := t.rc.TaskrouterV1.CreateWorker(workspaceSID, params)
	if err != nil {
		return ProvisionedWorker{}, err
	}
	return provWorkerFrom(created), nil
}

// UpdateWorker replaces a worker's attributes.
func (t *TwilioProvisionAPI) UpdateWorker(ctx context.Context, workspaceSID string, w ProvisionedWorker) (ProvisionedWorker, error) {
	if err := ctx.Err(); err != nil {
		return ProvisionedWorker{}, err
	}
	updated, err := t.rc.TaskrouterV1.UpdateWorker(workspaceSID, w.SID, (&tr.UpdateWorkerParams{}).SetAttributes(w.Attributes))
	if err != nil {
		return ProvisionedWorker{}, err
	}
	return provWorkerFrom(updated), nil
}

// DeleteWorker deletes a worker.
func (t *TwilioProvisionAPI) DeleteWorker(ctx context.Context, workspaceSID, sid string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return t.rc.TaskrouterV1.DeleteWorker(workspaceSID, sid, &tr.DeleteWorkerParams{})
}

func provWorkflowFrom(w *tr.TaskrouterV1Workflow) ProvisionedWorkflow {
	return ProvisionedWorkflow{SID: provStr(w.Sid), Name: provStr(w.FriendlyName), Configuration: provStr(w.Configuration), TaskReservationTimeout: w.TaskReservationTimeout}
}

// ListWorkflows lists a workspace's workflows.
func (t *TwilioProvisionAPI) ListWorkflows(ctx context.Context, workspaceSID string) ([]ProvisionedWorkflow, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	list, err := t.rc.TaskrouterV1.ListWorkflow(workspaceSID, &tr.ListWorkflowParams{})
	if err != nil {
		return nil, err
	}
	out := make([]ProvisionedWorkflow, 0, len(list))
	for i := range list {
		out = append(out, provWorkflowFrom(&list[i]))
	}
	return out, nil
}

// CreateWorkflow creates a workflow; the reservation timeout is a parameter of its own, not
// part of the configuration JSON.
func (t *TwilioProvisionAPI) CreateWorkflow(ctx context.Context, workspaceSID string, wf ProvisionedWorkflow) (ProvisionedWorkflow, error) {
	if err := ctx.Err(); err != nil {
		return ProvisionedWorkflow{}, err
	}
	params := (&tr.CreateWorkflowParams{}).SetFriendlyName(wf.Name).SetConfiguration(wf.Configuration).SetTaskReservationTimeout(wf.TaskReservationTimeout)
	created, err := t.rc.TaskrouterV1.CreateWorkflow(workspaceSID, params)
	if err != nil {
		return ProvisionedWorkflow{}, err
	}
	return provWorkflowFrom(created), nil
}

// UpdateWorkflow sets a workflow's configuration and reservation timeout.
func (t *TwilioProvisionAPI) UpdateWorkflow(ctx context.Context, workspaceSID string, wf ProvisionedWorkflow) (ProvisionedWorkflow, error) {
	if err := ctx.Err(); err != nil {
		return ProvisionedWorkflow{}, err
	}
	params := (&tr.UpdateWorkflowParams{}).SetConfiguration(wf.Configuration).SetTaskReservationTimeout(wf.TaskReservationTimeout)
	updated, err := t.rc.TaskrouterV1.UpdateWorkflow(workspaceSID, wf.SID, params)
	if err != nil {
		return ProvisionedWorkflow{}, err
	}
	return provWorkflowFrom(updated), nil
}

// DeleteWorkflow deletes a workflow.
func (t *TwilioProvisionAPI) DeleteWorkflow(ctx context.Context, workspaceSID, sid string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return t.rc.TaskrouterV1.DeleteWorkflow(workspaceSID, sid)
}

func provNumberFrom(n *api.ApiV2010IncomingPhoneNumber) ProvisionedNumber {
	return ProvisionedNumber{
		SID: provStr(n.Sid), PhoneNumber: provStr(n.PhoneNumber), VoiceURL: provStr(n.VoiceUrl),
		VoiceMethod: provStr(n.VoiceMethod), VoiceApplicationSID: provStr(n.VoiceApplicationSid),
	}
}

// ListNumbers lists the account's incoming numbers equal to phoneNumber.
func (t *TwilioProvisionAPI) ListNumbers(ctx context.Context, phoneNumber string) ([]ProvisionedNumber, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	list, err := t.rc.Api.ListIncomingPhoneNumber((&api.ListIncomingPhoneNumberParams{}).SetPhoneNumber(phoneNumber))
	if err != nil {
		return nil, err
	}
	out := make([]ProvisionedNumber, 0, len(list))
	for i := range list {
		out = append(out, provNumberFrom(&list[i]))
	}
	return out, nil
}

// UpdateNumber points a number's voice webhook; it clears any voice application, which would
// otherwise win over the URL.
func (t *TwilioProvisionAPI) UpdateNumber(ctx context.Context, n ProvisionedNumber) (ProvisionedNumber, error) {
	if err := ctx.Err(); err != nil {
		return ProvisionedNumber{}, err
	}
	params := (&api.UpdateIncomingPhoneNumberParams{}).SetVoiceUrl(n.VoiceURL).SetVoiceMethod(n.VoiceMethod).SetVoiceApplicationSid(n.VoiceApplicationSID)
	updated, err := t.rc.Api.UpdateIncomingPhoneNumber(n.SID, params)
	if err != nil {
		return ProvisionedNumber{}, err
	}
	return provNumberFrom(updated), nil
}
