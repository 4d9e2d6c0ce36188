package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"queuebridge/studio"
)

// provPlaceholderWorkflowSID stands in for a workflow that does not exist yet when the flow is
// rendered for a plan; apply renders it again with the real SID.
const provPlaceholderWorkflowSID = "WW00000000000000000000000000000000"

// provWorkflowConfig is TaskRouter's workflow configuration JSON (TWILIO.md). Remote
// configurations are decoded into it before comparing, so fields Twilio adds or reorders do
// not show up as changes.
type provWorkflowConfig struct {
	TaskRouting struct {
		Filters       []provWorkflowFilter `json:"filters"`
		DefaultFilter *provWorkflowTarget  `json:"default_filter,omitempty"`
	} `json:"task_routing"`
}

type provWorkflowFilter struct {
	FriendlyName string               `json:"filter_friendly_name"`
	Expression   string               `json:"expression"`
	Targets      []provWorkflowTarget `json:"targets"`
}

type provWorkflowTarget struct {
	Queue      string `json:"queue"`
	Expression string `json:"expression,omitempty"`
	Priority   int    `json:"priority,omitempty"`
	Timeout    int    `json:"timeout,omitempty"`
}

func (r *provReconciler) provWorkflowConfiguration() (string, error) {
	var c provWorkflowConfig
	c.TaskRouting.Filters = []provWorkflowFilter{}
	for _, f := range r.spec.Workflow.Filters {
		wf := provWorkflowFilter{FriendlyName: f.Name, Expression: f.Expression}
		for _, t := range f.Targets {
			wf.Targets = append(wf.Targets, provWorkflowTarget{
				Queue: r.queues[t.Queue], Expression: t.Expression, Priority: t.Priority, Timeout: t.Timeout,
			})
		}
		c.TaskRouting.Filters = append(c.TaskRouting.Filters, wf)
	}
	c.TaskRouting.DefaultFilter = &provWorkflowTarget{Queue: r.queues[r.spec.Workflow.DefaultQueue]}
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("workflow %q configuration: %w", r.spec.Workflow.Name, err)
	}
	return string(b), nil
}

// provNormalizeConfiguration re-encodes a remote configuration through provWorkflowConfig; what does
// not decode is returned as is, and so differs.
func provNormalizeConfiguration(conf string) string {
	var c provWorkflowConfig
	if err := json.Unmarshal([]byte(conf), &c); err != nil {
		return conf
	}
	if c.TaskRouting.Filters == nil {
		c.TaskRouting.Filters = []provWorkflowFilter{}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return conf
	}
	return string(b)
}

// provJSONEqual compares two JSON documents by value, not by spelling.
func provJSONEqual(a, b string) bool {
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return a == b
	}
	return reflect.DeepEqual(va, vb)
}

func (r *provReconciler) applyQueues(ctx context.Context) error {
	r.queues = map[string]string{}
	existing, err := provExisting(ctx, r, PlanKindQueue, r.api.ListQueues, func(q ProvisionedQueue) string { return q.Name })
	if err != nil {
		return err
	}
	for _, q := range r.spec.Queues {
		have := existing[q.Name]
		var fields []PlanField
		fields = provDiff(fields, "target_workers", have.TargetWorkers, q.TargetWorkers)
		fields = provDiff(fields, "max_reserved_workers", provIntString(have.MaxReservedWorkers), fmt.Sprint(q.MaxReservedWorkers))
		c := provChange(PlanKindQueue, q.Name, have.SID, fields)
		want := ProvisionedQueue{SID: have.SID, Name: q.Name, TargetWorkers: q.TargetWorkers, MaxReservedWorkers: q.MaxReservedWorkers}
		if err := provWrite(ctx, r, &c, want, r.api.CreateQueue, r.api.UpdateQueue, func(q ProvisionedQueue) string { return q.SID }); err != nil {
			return err
		}
		r.queues[q.Name] = c.SID
		if c.Action == PlanCreate && !r.write {
			// The workflow's plan still needs something to route to.
			r.queues[q.Name] = provPending(PlanKindQueue, q.Name)
		}
		r.record(c)
		if !strings.HasPrefix(r.queues[q.Name], "(") {
			r.plan.Outputs.Queues[q.Name] = r.queues[q.Name]
		}
	}
	return nil
}

// provExisting lists the workspace's resources of one kind by key; a workspace still to be
// created has none.
func provExisting[T any](ctx context.Context, r *provReconciler, kind string,
	list func(context.Context, string) ([]T, error), key func(T) string) (map[string]T, error) {
	existing := map[string]T{}
	if !r.wsExisted {
		return existing, nil
	}
	all, err := list(ctx, r.wsSID)
	if err != nil {
		return nil, provListErr(kind, err)
	}
	for _, x := range all {
		existing[key(x)] = x
	}
	return existing, nil
}

// provWrite carries out c, a change to a resource of the workspace, when the reconciler writes:
// create or update send want, and a created resource's SID (read by sid) goes into c.
func provWrite[T any](ctx context.Context, r *provReconciler, c *PlanChange, want T,
	create, update func(context.Context, string, T) (T, error), sid func(T) string) error {
	if !r.write {
		return nil
	}
	switch c.Action {
	case PlanCreate:
		created, err := create(ctx, r.wsSID, want)
		if err != nil {
			return &ProvisionError{Op: "create", Kind: c.Kind, Name: c.Name, Err: err}
		}
		c.SID = sid(created)
	case PlanUpdate:
		if _, err := update(ctx, r.wsSID, want); err != nil {
			return &ProvisionError{Op: "update", Kind: c.Kind, Name: c.Name, SID: c.SID, Err: err}
		}
	}
	return nil
}

func provIntString(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprint(n)
}

func (r *provReconciler) applyWorkers(ctx context.Context) error {
	// TaskRouter's worker names are case-insensitive.
	existing, err := provExisting(ctx, r, PlanKindWorker, r.api.ListWorkers, func(w ProvisionedWorker) string { return strings.ToLower(w.Name) })
	if err != nil {
		return err
	}
	for _, w := range r.spec.Workers {
		attrs, err := w.workerAttributes()
		if err != nil {
			return err
		}
		have := existing[strings.ToLower(w.Name)]
		var fields []PlanField
		if have.SID == "" || !provJSONEqual(have.Attributes, attrs) {
			fields = append(fields, PlanField{Name: "attributes", Old: have.Attributes, New: attrs})
		}
		c := provChange(PlanKindWorker, w.Name, have.SID, fields)
		if c.Action == PlanCreate && w.Activity != "" {
			c.Fields = append(c.Fields, PlanField{Name: "activity", New: w.Activity})
		}
		want := ProvisionedWorker{SID: have.SID, Name: w.Name, Attributes: attrs}
		if c.Action == PlanCreate {
			// Only on creation: afterwards the activity is the agent's live state.
			want.ActivitySID = r.activitySID(w.Activity)
		}
		if err := provWrite(ctx, r, &c, want, r.api.CreateWorker, r.api.UpdateWorker, func(w ProvisionedWorker) string { return w.SID }); err != nil {
			return err
		}
		r.record(c)
		if c.SID != "" {
			r.plan.Outputs.Workers[w.Name] = c.SID
		}
	}
	return nil
}

func (r *provReconciler) applyWorkflow(ctx context.Context) error {
	spec := r.spec.Workflow
	var have ProvisionedWorkflow
	if r.wsExisted {
		list, err := r.api.ListWorkflows(ctx, r.wsSID)
		if err != nil {
			return provListErr(PlanKindWorkflow, err)
		}
		found, err := provFindOne(list, PlanKindWorkflow, spec.Name, func(wf ProvisionedWorkflow) (string, string) { return wf.Name, wf.SID },
			"delete the extra ones")
		if err != nil {
			return err
		}
		if found != nil {
			have = *found
		}
	}
	conf, err := r.provWorkflowConfiguration()
	if err != nil {
		return err
	}
	timeout := r.spec.ReservationTimeout(r.set)
	var fields []PlanField
	if have.SID == "" || provNormalizeConfiguration(have.Configuration) != conf {
		fields = append(fields, PlanField{Name: "configuration", Old: have.Configuration, New: conf})
	}
	fields = provDiff(fields, "task_reservation_timeout", provIntString(have.TaskReservationTimeout), fmt.Sprint(timeout))
	c := provChange(PlanKindWorkflow, spec.Name, have.SID, fields)
	want := ProvisionedWorkflow{SID: have.SID, Name: spec.Name, Configuration: conf, TaskReservationTimeout: timeout}
	if err := provWrite(ctx, r, &c, want, r.api.CreateWorkflow, r.api.UpdateWorkflow, func(wf ProvisionedWorkflow) string { return wf.SID }); err != nil {
		return err
	}
	r.record(c)
	r.plan.Outputs.WorkflowSID = c.SID
	return nil
}

// FlowParams turns the spec's flow into the studio package's render parameters.
func (s *Spec) FlowParams(set SpecSettings, workflowSID string) studio.Params {
	f := s.Flow
	p := studio.Params{
		Description:             fmt.Sprintf("queuebridge IVR for workflow %q (managed by cmd/bootstrap: edits in the console are overwritten)", s.Workflow.Name),
		WorkflowSID:             workflowSID,
		Greeting:                f.Greeting,
		Voice:                   f.Voice,
		Language:                f.Language,
		Priority:                f.Enqueue.Priority,
		Timeout:                 f.Enqueue.Timeout,
		WaitURL:                 specResolveURL(set.PublicBaseURL, f.Enqueue.WaitURL),
		VoicemailPrompt:         f.Voicemail.Prompt,
		VoicemailMaxLength:      f.Voicemail.MaxLength,
		RecordingStatusCallback: specResolveURL(set.PublicBaseURL, f.Voicemail.RecordingStatusCallback),
	}
	if m := f.Menu; m != nil {
		p.Menu = &studio.Menu{Prompt: m.Prompt, Timeout: m.Timeout, DefaultDepartment: m.DefaultDepartment}
		for _, o := range m.Options {
			p.Menu.Options = append(p.Menu.Options, studio.MenuOption{Digit: o.Digit, Department: o.Department})
		}
	}
	s.callerFlowParams(set, &p)
	return p
}

func (r *provReconciler) applyFlow(ctx context.Context) error {
	name := r.spec.Flow.Name
	have, err := r.findFlow(ctx)
	if err != nil {
		return err
	}
	workflowSID := r.plan.Outputs.WorkflowSID
	if workflowSID == "" {
		workflowSID = provPlaceholderWorkflowSID
	}
	def, err := studio.Render(r.spec.FlowParams(r.set, workflowSID))
	if err != nil {
		return fmt.Errorf("flow %q: %w", name, err)
	}
	msg := studio.CommitMessage(def)
	if workflowSID == provPlaceholderWorkflowSID {
		msg = "(fingerprint of the definition with the new workflow's SID)"
	}
	var c PlanChange
	switch {
	case have == nil:
		c = PlanChange{Action: PlanCreate, Kind: PlanKindFlow, Name: name, Fields: []PlanField{
			{Name: "status", New: studio.StatusPublished}, {Name: "commit_message", New: msg}}}
	case workflowSID != provPlaceholderWorkflowSID && studio.FlowUpToDate(*have, def):
		c = PlanChange{Action: PlanUnchanged, Kind: PlanKindFlow, Name: name, SID: have.SID}
		r.flow = *have
	default:
		var fields []PlanField
		fields = provDiff(fields, "status", have.Status, studio.StatusPublished)
		fields = append(fields, PlanField{Name: "commit_message", Old: have.CommitMessage, New: msg})
		c = PlanChange{Action: PlanUpdate, Kind: PlanKindFlow, Name: name, SID: have.SID, Fields: fields}
		r.flow = *have
	}
	if r.write && c.Action != PlanUnchanged {
		if workflowSID == provPlaceholderWorkflowSID {
			return fmt.Errorf("flow %q: the workflow has no SID after apply", name)
		}
		var f studio.FlowInfo
		if c.Action == PlanCreate {
			f, err = r.api.CreateFlow(ctx, name, def, msg)
		} else {
			f, err = r.api.UpdateFlow(ctx, have.SID, name, def, msg)
		}
		if err != nil {
			return &ProvisionError{Op: string(c.Action), Kind: PlanKindFlow, Name: name, SID: c.SID, Err: err}
		}
		r.flow = f
		c.SID = f.SID
	}
	r.record(c)
	r.plan.Outputs.FlowSID = r.flow.SID
	r.plan.Outputs.FlowWebhookURL = r.flow.WebhookURL
	return nil
}

func (r *provReconciler) applyNumbers(ctx context.Context) error {
	webhook := r.flow.WebhookURL
	if webhook == "" {
		webhook = fmt.Sprintf("(webhook_url of new flow %s)", r.spec.Flow.Name)
	}
	for _, n := range r.spec.Numbers {
		have, err := r.findNumber(ctx, n.PhoneNumber)
		if err != nil {
			return err
		}
		var fields []PlanField
		fields = provDiff(fields, "voice_url", have.VoiceURL, webhook)
		fields = provDiff(fields, "voice_method", have.VoiceMethod, "POST")
		// A voice application on the number would take precedence over the voice URL.
		fields = provDiff(fields, "voice_application_sid", have.VoiceApplicationSID, "")
		c := provChange(PlanKindNumber, n.PhoneNumber, have.SID, fields)
		if r.write && c.Action == PlanUpdate {
			want := ProvisionedNumber{SID: have.SID, PhoneNumber: have.PhoneNumber, VoiceURL: webhook, VoiceMethod: "POST"}
			if _, err := r.api.UpdateNumber(ctx, want); err != nil {
				return &ProvisionError{Op: "update", Kind: PlanKindNumber, Name: n.PhoneNumber, SID: have.SID, Err: err}
			}
		}
		r.record(c)
		r.plan.Outputs.Numbers[n.PhoneNumber] = have.SID
	}
	return nil
}

// teardown deletes what the spec owns, in reverse dependency order. Numbers are bought, not
// created, so they are only detached from the flow. The workspace goes (with everything in it)
// only when everything in it is the spec's; otherwise the spec's workflow, workers and queues
// are deleted one by one and the workspace stays.
func (r *provReconciler) teardown(ctx context.Context) error {
	flow, err := r.findFlow(ctx)
	if err != nil {
		return err
	}
	if err := r.detachNumbers(ctx, flow); err != nil {
		return err
	}
	if flow != nil {
		c := PlanChange{Action: PlanDelete, Kind: PlanKindFlow, Name: flow.FriendlyName, SID: flow.SID}
		if err := r.recordDelete(c, func() error { return r.api.DeleteFlow(ctx, flow.SID) }); err != nil {
			return err
		}
	}
	ws, err := r.findWorkspace(ctx)
	if err != nil || ws == nil {
		return err
	}
	return r.teardownWorkspace(ctx, ws)
}

// recordDelete records c and, when writing, deletes its resource with del.
func (r *provReconciler) recordDelete(c PlanChange, del func() error) error {
	r.record(c)
	if !r.write {
		return nil
	}
	if err := del(); err != nil {
		return &ProvisionError{Op: "delete", Kind: c.Kind, Name: c.Name, SID: c.SID, Err: err}
	}
	return nil
}

// detachNumbers clears the voice URL of the spec's numbers that point at the spec's flow (nil
// when there is none); a number pointed elsewhere since is not the spec's to change.
func (r *provReconciler) detachNumbers(ctx context.Context, flow *studio.FlowInfo) error {
	for _, n := range r.spec.Numbers {
		all, err := r.api.ListNumbers(ctx, n.PhoneNumber)
		if err != nil {
			return &ProvisionError{Op: "list", Kind: PlanKindNumber, Name: n.PhoneNumber, Err: err}
		}
		for _, have := range all {
			if have.PhoneNumber != n.PhoneNumber {
				continue
			}
			if flow == nil || have.VoiceURL != flow.WebhookURL {
				r.record(PlanChange{Action: PlanUnchanged, Kind: PlanKindNumber, Name: n.PhoneNumber, SID: have.SID, Note: "does not point at the spec's flow"})
				continue
			}
			r.record(PlanChange{Action: PlanUpdate, Kind: PlanKindNumber, Name: n.PhoneNumber, SID: have.SID,
				Note: "detached from the flow (numbers are never released)", Fields: []PlanField{{Name: "voice_url", Old: have.VoiceURL}}})
			if r.write {
				want := ProvisionedNumber{SID: have.SID, PhoneNumber: have.PhoneNumber, VoiceURL: "", VoiceMethod: "POST"}
				if _, err := r.api.UpdateNumber(ctx, want); err != nil {
					return &ProvisionError{Op: "update", Kind: PlanKindNumber, Name: n.PhoneNumber, SID: have.SID, Err: err}
				}
			}
		}
	}
	return nil
}

// provOwned is a resource in the workspace that the spec owns, with how to delete it on its own.
type provOwned struct {
	kind, name, sid string
	del             func(ctx context.Context, workspaceSID, sid string) error
}

// provWorkspaceContents is what a workspace holds, sorted into what the spec owns and what it
// does not (described for the plan's note).
type provWorkspaceContents struct {
	mine    []provOwned
	foreign []string
}

func (wc *provWorkspaceContents) sort(ours bool, o provOwned) {
	if ours {
		wc.mine = append(wc.mine, o)
	} else {
		wc.foreign = append(wc.foreign, fmt.Sprintf("%s %q", o.kind, o.name))
	}
}

// teardownWorkspace deletes the spec's workspace when it holds only the spec's resources, and
// only the spec's resources in it otherwise: deleting a workspace deletes everything in it.
func (r *provReconciler) teardownWorkspace(ctx context.Context, ws *ProvisionedWorkspace) error {
	contents, err := r.workspaceContents(ctx, ws.SID)
	if err != nil {
		return err
	}
	activities, err := r.api.ListActivities(ctx, ws.SID)
	if err != nil {
		return provListErr(PlanKindActivity, err)
	}
	if len(contents.foreign) > 0 {
		return r.deleteOwned(ctx, ws, contents)
	}
	for _, o := range contents.mine {
		r.record(PlanChange{Action: PlanDelete, Kind: o.kind, Name: o.name, SID: o.sid, Note: "deleted with the workspace"})
	}
	specActivities := provNames(r.spec.Activities, func(a SpecActivity) string { return a.Name })
	for _, a := range activities {
		if specActivities[a.Name] {
			r.record(PlanChange{Action: PlanDelete, Kind: PlanKindActivity, Name: a.Name, SID: a.SID, Note: "deleted with the workspace"})
		}
	}
	c := PlanChange{Action: PlanDelete, Kind: PlanKindWorkspace, Name: ws.Name, SID: ws.SID}
	return r.recordDelete(c, func() error { return r.api.DeleteWorkspace(ctx, ws.SID) })
}

// workspaceContents lists the workspace's workflows, workers and queues. Every one the spec does
// not own is foreign, and keeps the workspace: a workflow included, since deleting the workspace
// would delete someone else's routing with it.
func (r *provReconciler) workspaceContents(ctx context.Context, wsSID string) (*provWorkspaceContents, error) {
	workflows, err := r.api.ListWorkflows(ctx, wsSID)
	if err != nil {
		return nil, provListErr(PlanKindWorkflow, err)
	}
	workers, err := r.api.ListWorkers(ctx, wsSID)
	if err != nil {
		return nil, provListErr(PlanKindWorker, err)
	}
	queues, err := r.api.ListQueues(ctx, wsSID)
	if err != nil {
		return nil, provListErr(PlanKindQueue, err)
	}
	var wc provWorkspaceContents
	for _, wf := range workflows {
		wc.sort(wf.Name == r.spec.Workflow.Name, provOwned{PlanKindWorkflow, wf.Name, wf.SID, r.api.DeleteWorkflow})
	}
	// TaskRouter's worker names are case-insensitive.
	specWorkers := provNames(r.spec.Workers, func(w SpecWorker) string { return strings.ToLower(w.Name) })
	for _, w := range workers {
		wc.sort(specWorkers[strings.ToLower(w.Name)], provOwned{PlanKindWorker, w.Name, w.SID, r.api.DeleteWorker})
	}
	specQueues := provNames(r.spec.Queues, func(q SpecQueue) string { return q.Name })
	for _, q := range queues {
		wc.sort(specQueues[q.Name], provOwned{PlanKindQueue, q.Name, q.SID, r.api.DeleteQueue})
	}
	return &wc, nil
}

// deleteOwned deletes the spec's resources in a workspace that also holds foreign ones, and keeps
// the workspace.
func (r *provReconciler) deleteOwned(ctx context.Context, ws *ProvisionedWorkspace, contents *provWorkspaceContents) error {
	for _, o := range contents.mine {
		c := PlanChange{Action: PlanDelete, Kind: o.kind, Name: o.name, SID: o.sid}
		if err := r.recordDelete(c, func() error { return o.del(ctx, ws.SID, o.sid) }); err != nil {
			return err
		}
	}
	r.record(PlanChange{Action: PlanUnchanged, Kind: PlanKindWorkspace, Name: ws.Name, SID: ws.SID,
		Note: "kept with its activities: it also holds " + strings.Join(contents.foreign, ", ") + ", which the spec does not own"})
	return nil
}

// provNames is the set of the names of the spec's entries, as key gives them.
func provNames[T any](entries []T, key func(T) string) map[string]bool {
	names := make(map[string]bool, len(entries))
	for _, e := range entries {
		names[key(e)] = true
	}
	return names
}
