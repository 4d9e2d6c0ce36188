package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/twilio/twilio-go/client"

	"queuebridge/studio"
)

// ProvisionAPI is the part of Twilio's REST API provisioning uses. Lists return everything
// (the planner matches friendly names itself); ListWorkers returns the workers' attributes,
// which Twilio only shows when a worker is fetched on its own.
type ProvisionAPI interface {
	ListWorkspaces(ctx context.Context, name string) ([]ProvisionedWorkspace, error)
	CreateWorkspace(ctx context.Context, ws ProvisionedWorkspace) (ProvisionedWorkspace, error)
	UpdateWorkspace(ctx context.Context, ws ProvisionedWorkspace) (ProvisionedWorkspace, error)
	DeleteWorkspace(ctx context.Context, sid string) error

	ListActivities(ctx context.Context, workspaceSID string) ([]ProvisionedActivity, error)
	CreateActivity(ctx context.Context, workspaceSID string, a ProvisionedActivity) (ProvisionedActivity, error)

	ListQueues(ctx context.Context, workspaceSID string) ([]ProvisionedQueue, error)
	CreateQueue(ctx context.Context, workspaceSID string, q ProvisionedQueue) (ProvisionedQueue, error)
	UpdateQueue(ctx context.Context, workspaceSID string, q ProvisionedQueue) (ProvisionedQueue, error)
	DeleteQueue(ctx context.Context, workspaceSID, sid string) error

	ListWorkers(ctx context.Context, workspaceSID string) ([]ProvisionedWorker, error)
	CreateWorker(ctx context.Context, workspaceSID string, w ProvisionedWorker) (ProvisionedWorker, error)
	// UpdateWorker changes the worker's attributes only: its activity is the agent's live state.
	UpdateWorker(ctx context.Context, workspaceSID string, w ProvisionedWorker) (ProvisionedWorker, error)
	DeleteWorker(ctx context.Context, workspaceSID, sid string) error

	ListWorkflows(ctx context.Context, workspaceSID string) ([]ProvisionedWorkflow, error)
	CreateWorkflow(ctx context.Context, workspaceSID string, wf ProvisionedWorkflow) (ProvisionedWorkflow, error)
	UpdateWorkflow(ctx context.Context, workspaceSID string, wf ProvisionedWorkflow) (ProvisionedWorkflow, error)
	DeleteWorkflow(ctx context.Context, workspaceSID, sid string) error

	studio.FlowAPI

	// ListNumbers lists the account's incoming numbers equal to phoneNumber (E.164).
	ListNumbers(ctx context.Context, phoneNumber string) ([]ProvisionedNumber, error)
	// UpdateNumber sets the number's VoiceURL, VoiceMethod and VoiceApplicationSID.
	UpdateNumber(ctx context.Context, n ProvisionedNumber) (ProvisionedNumber, error)
}

// ProvisionedWorkspace is a workspace as Twilio has it.
type ProvisionedWorkspace struct {
	SID                string
	Name               string
	EventCallbackURL   string
	EventsFilter       string
	TimeoutActivitySID string
	DefaultActivitySID string
}

// ProvisionedActivity is a worker activity as Twilio has it.
type ProvisionedActivity struct {
	SID       string
	Name      string
	Available bool
}

// ProvisionedQueue is a task queue as Twilio has it.
type ProvisionedQueue struct {
	SID                string
	Name               string
	TargetWorkers      string
	MaxReservedWorkers int
}

// ProvisionedWorker is a worker as Twilio has it; ActivitySID is only sent on creation.
type ProvisionedWorker struct {
	SID         string
	Name        string
	Attributes  string
	ActivitySID string
}

// ProvisionedWorkflow is a workflow as Twilio has it.
type ProvisionedWorkflow struct {
	SID                    string
	Name                   string
	Configuration          string
	TaskReservationTimeout int
}

// ProvisionedNumber is an incoming phone number as Twilio has it.
type ProvisionedNumber struct {
	SID                 string
	PhoneNumber         string
	VoiceURL            string
	VoiceMethod         string
	VoiceApplicationSID string
}

// PlanAction is what a plan does to one resource.
type PlanAction string

// The plan actions, as Terraform names them.
const (
	PlanCreate    PlanAction = "create"
	PlanUpdate    PlanAction = "update"
	PlanDelete    PlanAction = "delete"
	PlanUnchanged PlanAction = "unchanged"
)

// PlanMode says whether a plan provisions the spec or tears it down.
type PlanMode string

// The plan modes.
const (
	PlanModeApply    PlanMode = "apply"
	PlanModeTeardown PlanMode = "teardown"
)

// Resource kinds, in dependency order.
const (
	PlanKindWorkspace = "workspace"
	PlanKindActivity  = "activity"
	PlanKindQueue     = "queue"
	PlanKindWorker    = "worker"
	PlanKindWorkflow  = "workflow"
	PlanKindFlow      = "flow"
	PlanKindNumber    = "number"
)

// PlanField is one field that differs: its value now and the value the plan gives it.
type PlanField struct {
	Name string `json:"name"`
	Old  string `json:"old"`
	New  string `json:"new"`
}

// PlanChange is what the plan does to one resource.
type PlanChange struct {
	Action PlanAction  `json:"action"`
	Kind   string      `json:"kind"`
	Name   string      `json:"name"`
	SID    string      `json:"sid,omitempty"`
	Fields []PlanField `json:"fields,omitempty"`
	// Note explains an action that is not what one would guess (kept, deleted with its parent).
	Note string `json:"note,omitempty"`
}

// Plan is the changes reconciling the account with a spec would make, in the order they are
// made.
type Plan struct {
	Mode    PlanMode         `json:"mode"`
	Changes []PlanChange     `json:"changes"`
	Outputs ProvisionOutputs `json:"outputs"`
	spec    *Spec
}

// HasChanges reports whether applying the plan would write anything.
func (p *Plan) HasChanges() bool {
	for _, c := range p.Changes {
		if c.Action != PlanUnchanged {
			return true
		}
	}
	return false
}

// PlanSummary counts a plan's changes per action.
type PlanSummary struct {
	Create    int `json:"create"`
	Update    int `json:"update"`
	Delete    int `json:"delete"`
	Unchanged int `json:"unchanged"`
}

// Summary counts the plan's changes per action.
func (p *Plan) Summary() PlanSummary {
	var s PlanSummary
	for _, c := range p.Changes {
		switch c.Action {
		case PlanCreate:
			s.Create++
		case PlanUpdate:
			s.Update++
		case PlanDelete:
			s.Delete++
		case PlanUnchanged:
			s.Unchanged++
		}
	}
	return s
}

// ProvisionOutputs are the SIDs the bridge is configured with. Before an apply, resources still
// to be created have no SID.
type ProvisionOutputs struct {
	WorkspaceSID   string            `json:"workspace_sid,omitempty"`
	WorkflowSID    string            `json:"workflow_sid,omitempty"`
	FlowSID        string            `json:"flow_sid,omitempty"`
	FlowWebhookURL string            `json:"flow_webhook_url,omitempty"`
	Activities     map[string]string `json:"activities,omitempty"`
	Queues         map[string]string `json:"queues,omitempty"`
	Workers        map[string]string `json:"workers,omitempty"`
	Numbers        map[string]string `json:"numbers,omitempty"`
}

// ProvisionError is a failed Twilio operation and the resource it concerned.
type ProvisionError struct {
	Op   string // list, create, update, delete
	Kind string
	Name string
	SID  string
	Err  error
}

func (e *ProvisionError) Error() string {
	what := e.Kind
	if e.Name != "" {
		what += fmt.Sprintf(" %q", e.Name)
	}
	if e.SID != "" {
		what += " (" + e.SID + ")"
	}
	var tw *client.TwilioRestError
	if errors.As(e.Err, &tw) {
		msg := fmt.Sprintf("%s %s: Twilio error %d: %s (HTTP %d)", e.Op, what, tw.Code, tw.Message, tw.Status)
		if tw.MoreInfo != "" {
			msg += " " + tw.MoreInfo
		}
		return msg
	}
	return fmt.Sprintf("%s %s: %v", e.Op, what, e.Err)
}

func (e *ProvisionError) Unwrap() error { return e.Err }

// Provisioner reconciles a Twilio account with a Spec.
type Provisioner struct {
	API      ProvisionAPI
	Settings SpecSettings
}

// NewProvisioner returns a Provisioner; use NewTwilioProvisionAPI for api.
func NewProvisioner(api ProvisionAPI, set SpecSettings) *Provisioner {
	return &Provisioner{API: api, Settings: set}
}

// Plan validates the spec, reads what exists and returns what Apply would change. It writes
// nothing.
func (p *Provisioner) Plan(ctx context.Context, spec *Spec) (*Plan, error) {
	return p.run(ctx, spec, PlanModeApply, false)
}

// PlanTeardown returns what Apply of a teardown would delete: the spec's resources that exist,
// never others.
func (p *Provisioner) PlanTeardown(ctx context.Context, spec *Spec) (*Plan, error) {
	return p.run(ctx, spec, PlanModeTeardown, false)
}

// Apply carries out a plan made by Plan or PlanTeardown. It reads the account again and makes
// the changes in dependency order (workspace, activities, queues, workers, workflow, flow,
// numbers; the reverse for a teardown), so what it does is the plan unless the account changed
// in between. The returned plan lists what was done, with the SIDs.
func (p *Provisioner) Apply(ctx context.Context, plan *Plan) (*Plan, error) {
	if plan == nil || plan.spec == nil {
		return nil, errors.New("apply: the plan was not made by this package's Plan or PlanTeardown")
	}
	return p.run(ctx, plan.spec, plan.Mode, true)
}

// ApplySpec plans and applies in one call, without asking: what the bridge's sandbox mode uses
// to provision the sandbox (with ExampleSpec). The returned plan lists what was done; its
// Outputs hold the SIDs.
func (p *Provisioner) ApplySpec(ctx context.Context, spec *Spec) (*Plan, error) {
	plan, err := p.Plan(ctx, spec)
	if err != nil {
		return plan, err
	}
	return p.Apply(ctx, plan)
}

func (p *Provisioner) run(ctx context.Context, spec *Spec, mode PlanMode, write bool) (*Plan, error) {
	if err := spec.Validate(p.Settings); err != nil {
		return nil, err
	}
	r := &provReconciler{
		api: p.API, set: p.Settings, spec: spec, write: write,
		plan: &Plan{Mode: mode, spec: spec, Outputs: ProvisionOutputs{
			Activities: map[string]string{}, Queues: map[string]string{},
			Workers: map[string]string{}, Numbers: map[string]string{},
		}},
	}
	var err error
	if mode == PlanModeTeardown {
		err = r.teardown(ctx)
	} else {
		err = r.apply(ctx)
	}
	if err != nil {
		return r.plan, err
	}
	return r.plan, nil
}

// provReconciler walks the spec in dependency order. Planning and applying are the same walk: with
// write false it records what it would do, with write true it also does it, so the plan shown
// and the changes made cannot drift apart.
type provReconciler struct {
	api   ProvisionAPI
	set   SpecSettings
	spec  *Spec
	write bool
	plan  *Plan

	wsSID      string
	wsExisted  bool
	activities map[string]ProvisionedActivity
	queues     map[string]string // name → SID, or a placeholder when not created yet
	flow       studio.FlowInfo
}

func (r *provReconciler) record(c PlanChange) { r.plan.Changes = append(r.plan.Changes, c) }

// provPending is the placeholder SID of a resource the plan would create.
func provPending(kind, name string) string { return fmt.Sprintf("(new %s %s)", kind, name) }

func provListErr(kind string, err error) error {
	return &ProvisionError{Op: "list", Kind: kind + "s", Err: err}
}

func (r *provReconciler) findWorkspace(ctx context.Context) (*ProvisionedWorkspace, error) {
	name := r.spec.Workspace.Name
	all, err := r.api.ListWorkspaces(ctx, name)
	if err != nil {
		return nil, provListErr(PlanKindWorkspace, err)
	}
	return provFindOne(all, PlanKindWorkspace, name, func(ws ProvisionedWorkspace) (string, string) { return ws.Name, ws.SID },
		"which one the spec owns is ambiguous; delete or rename the extra ones")
}

func (r *provReconciler) findFlow(ctx context.Context) (*studio.FlowInfo, error) {
	all, err := r.api.ListFlows(ctx)
	if err != nil {
		return nil, provListErr(PlanKindFlow, err)
	}
	return provFindOne(all, PlanKindFlow, r.spec.Flow.Name, func(f studio.FlowInfo) (string, string) { return f.FriendlyName, f.SID },
		"delete the extra ones")
}

// provFindOne returns the resource called name, or nil. The spec owns what carries its names, so
// two resources with the name are an error a person must resolve (fix says how), not a guess.
func provFindOne[T any](all []T, kind, name string, nameSID func(T) (string, string), fix string) (*T, error) {
	var found []T
	var sids []string
	for _, x := range all {
		if n, sid := nameSID(x); n == name {
			found = append(found, x)
			sids = append(sids, sid)
		}
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return &found[0], nil
	default:
		return nil, fmt.Errorf("%s %q: %d %ss have this name (%s, %s…): %s", kind, name, len(found), kind, sids[0], sids[1], fix)
	}
}

func (r *provReconciler) findNumber(ctx context.Context, phone string) (ProvisionedNumber, error) {
	all, err := r.api.ListNumbers(ctx, phone)
	if err != nil {
		return ProvisionedNumber{}, &ProvisionError{Op: "list", Kind: PlanKindNumber, Name: phone, Err: err}
	}
	for _, n := range all {
		if n.PhoneNumber == phone {
			return n, nil
		}
	}
	return ProvisionedNumber{}, fmt.Errorf("number %q: not in this account: buy it in the Twilio console (Phone Numbers > Buy a number) or fix numbers[] in the spec", phone)
}

// provDiff adds a field to fields when old and new differ.
func provDiff(fields []PlanField, name, old, new string) []PlanField {
	if old != new {
		fields = append(fields, PlanField{Name: name, Old: old, New: new})
	}
	return fields
}

func provChange(kind, name, sid string, fields []PlanField) PlanChange {
	if sid == "" {
		return PlanChange{Action: PlanCreate, Kind: kind, Name: name, Fields: fields}
	}
	if len(fields) == 0 {
		return PlanChange{Action: PlanUnchanged, Kind: kind, Name: name, SID: sid}
	}
	return PlanChange{Action: PlanUpdate, Kind: kind, Name: name, SID: sid, Fields: fields}
}

// provNormalizeEvents makes an events filter comparable: Twilio keeps the string as given.
func provNormalizeEvents(filter string) string {
	var evs []string
	for _, e := range strings.Split(filter, ",") {
		if e = strings.TrimSpace(e); e != "" {
			evs = append(evs, e)
		}
	}
	sort.Strings(evs)
	return strings.Join(slices.Compact(evs), ",")
}

func (r *provReconciler) activitySID(name string) string {
	if name == "" {
		return ""
	}
	if a, ok := r.activities[name]; ok && a.SID != "" {
		return a.SID
	}
	return provPending(PlanKindActivity, name)
}

// apply walks the resource kinds in dependency order: each step needs the SIDs of the ones before.
func (r *provReconciler) apply(ctx context.Context) error {
	for _, step := range []func(context.Context) error{
		r.applyWorkspace, r.applyQueues, r.applyWorkers, r.applyWorkflow, r.applyFlow, r.applyNumbers,
	} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// applyWorkspace creates the workspace first (its children need its SID) and its activities,
// then writes the workspace's activity settings once those activities exist.
func (r *provReconciler) applyWorkspace(ctx context.Context) error {
	ws, err := r.findWorkspace(ctx)
	if err != nil {
		return err
	}
	desired := ProvisionedWorkspace{
		Name:             r.spec.Workspace.Name,
		EventCallbackURL: r.set.EventCallbackURL(),
		EventsFilter:     strings.Join(r.spec.Workspace.Events, ","),
	}
	r.activities = map[string]ProvisionedActivity{}
	r.wsExisted = ws != nil
	if r.wsExisted {
		r.wsSID = ws.SID
		if err := r.loadActivities(ctx); err != nil {
			return err
		}
	}
	changeIdx := len(r.plan.Changes)
	r.record(PlanChange{}) // filled in once the activity SIDs are known
	if !r.wsExisted && r.write {
		created, err := r.api.CreateWorkspace(ctx, desired)
		if err != nil {
			return &ProvisionError{Op: "create", Kind: PlanKindWorkspace, Name: desired.Name, Err: err}
		}
		r.wsSID = created.SID
		// A new workspace comes with default activities: adopt them rather than duplicate them.
		if err := r.loadActivities(ctx); err != nil {
			return err
		}
	}
	r.plan.Outputs.WorkspaceSID = r.wsSID
	if err := r.applyActivities(ctx); err != nil {
		return err
	}
	return r.applyWorkspaceSettings(ctx, ws, desired, changeIdx)
}

// loadActivities reads the workspace's activities into r.activities, by name.
func (r *provReconciler) loadActivities(ctx context.Context) error {
	list, err := r.api.ListActivities(ctx, r.wsSID)
	if err != nil {
		return provListErr(PlanKindActivity, err)
	}
	for _, a := range list {
		r.activities[a.Name] = a
	}
	return nil
}

func (r *provReconciler) applyActivities(ctx context.Context) error {
	for i, a := range r.spec.Activities {
		have, ok := r.activities[a.Name]
		if ok && have.Available != a.Available {
			return fmt.Errorf("activities[%d] %q: exists (%s) with available=%t, the spec says %t, and TaskRouter cannot change an activity's availability: rename it in the spec or delete it in the console",
				i, a.Name, have.SID, have.Available, a.Available)
		}
		if ok {
			r.record(PlanChange{Action: PlanUnchanged, Kind: PlanKindActivity, Name: a.Name, SID: have.SID})
			r.plan.Outputs.Activities[a.Name] = have.SID
			continue
		}
		c := PlanChange{Action: PlanCreate, Kind: PlanKindActivity, Name: a.Name,
			Fields: []PlanField{{Name: "available", New: fmt.Sprint(a.Available)}}}
		if !r.wsExisted && provIsDefaultActivity(a) {
			c.Note = "a new workspace comes with it: adopted, not created again"
		}
		if r.write {
			created, err := r.api.CreateActivity(ctx, r.wsSID, ProvisionedActivity{Name: a.Name, Available: a.Available})
			if err != nil {
				return &ProvisionError{Op: "create", Kind: PlanKindActivity, Name: a.Name, Err: err}
			}
			r.activities[a.Name] = created
			r.plan.Outputs.Activities[a.Name] = created.SID
			c.SID = created.SID
		}
		r.record(c)
	}
	return nil
}

// applyWorkspaceSettings fills in the workspace's change at changeIdx, now that its activities
// have SIDs, and writes the workspace's own fields. ws is the workspace found before the apply
// (nil when there was none).
func (r *provReconciler) applyWorkspaceSettings(ctx context.Context, ws *ProvisionedWorkspace, desired ProvisionedWorkspace, changeIdx int) error {
	spec := r.spec.Workspace
	desired.TimeoutActivitySID = r.activitySID(spec.TimeoutActivity)
	desired.DefaultActivitySID = r.activitySID(spec.DefaultActivity)
	var have ProvisionedWorkspace
	if ws != nil {
		have = *ws
	}
	var fields []PlanField
	fields = provDiff(fields, "event_callback_url", have.EventCallbackURL, desired.EventCallbackURL)
	if provNormalizeEvents(have.EventsFilter) != provNormalizeEvents(desired.EventsFilter) {
		fields = append(fields, PlanField{Name: "events_filter", Old: have.EventsFilter, New: desired.EventsFilter})
	}
	fields = provDiff(fields, "timeout_activity", r.activityName(have.TimeoutActivitySID), spec.TimeoutActivity)
	if spec.DefaultActivity != "" {
		fields = provDiff(fields, "default_activity", r.activityName(have.DefaultActivitySID), spec.DefaultActivity)
	}
	if r.wsExisted {
		r.plan.Changes[changeIdx] = provChange(PlanKindWorkspace, spec.Name, r.wsSID, fields)
	} else {
		r.plan.Changes[changeIdx] = PlanChange{Action: PlanCreate, Kind: PlanKindWorkspace, Name: spec.Name, SID: r.wsSID, Fields: fields}
	}
	// A created workspace still needs its timeout (and default) activity: Twilio's create
	// does not take them, and they did not exist yet.
	if r.write && len(fields) > 0 && (r.wsExisted || desired.TimeoutActivitySID != "" || desired.DefaultActivitySID != "") {
		desired.SID = r.wsSID
		if _, err := r.api.UpdateWorkspace(ctx, desired); err != nil {
			return &ProvisionError{Op: "update", Kind: PlanKindWorkspace, Name: desired.Name, SID: r.wsSID, Err: err}
		}
	}
	return nil
}

// provIsDefaultActivity tells the activities TaskRouter gives every new workspace.
func provIsDefaultActivity(a SpecActivity) bool {
	switch a.Name {
	case "Available":
		return a.Available
	case "Offline", "Unavailable":
		return !a.Available
	}
	return false
}

func (r *provReconciler) activityName(sid string) string {
	if sid == "" {
		return ""
	}
	for name, a := range r.activities {
		if a.SID == sid {
			return name
		}
	}
	return sid
}
