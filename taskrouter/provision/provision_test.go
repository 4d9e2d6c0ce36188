package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"queuebridge/handlers"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go/client"

	"queuebridge/studio"
)

// everythingCreated is what apply on an empty account writes, in order.
var everythingCreated = []string{
	"create workspace queuebridge",
	"create activity Missed Call",  // Available, Unavailable and Offline come with the workspace
	"update workspace queuebridge", // its timeout and default activities, which now exist
	"create queue Sales",
	"create queue Support",
	"create queue Everyone",
	"create worker Alice",
	"create worker Bob",
	"create worker Carol",
	"create workflow Inbound calls",
	"create flow queuebridge IVR",
	"update number +15005550006",
}

func applySpec(t *testing.T, fake *fakeTwilio, spec *Spec) *Plan {
	t.Helper()
	p := NewProvisioner(fake, testSettings())
	plan, err := p.Plan(context.Background(), spec)
	require.NoError(t, err)
	done, err := p.Apply(context.Background(), plan)
	require.NoError(t, err)
	return done
}

func actions(plan *Plan) []string {
	var out []string
	for _, c := range plan.Changes {
		out = append(out, string(c.Action)+" "+c.Kind+" "+c.Name)
	}
	return out
}

func TestPlanOnEmptyAccountCreatesEverythingAndWritesNothing(t *testing.T) {
	fake := newFakeTwilio()
	plan, err := NewProvisioner(fake, testSettings()).Plan(context.Background(), exampleSpec(t))
	require.NoError(t, err)

	assert.Empty(t, fake.writes(), "plan never writes")
	assert.True(t, plan.HasChanges())
	assert.Equal(t, PlanSummary{Create: 13, Update: 1}, plan.Summary())
	assert.Equal(t, []string{
		"create workspace queuebridge",
		"create activity Available", "create activity Unavailable", "create activity Offline", "create activity Missed Call",
		"create queue Sales", "create queue Support", "create queue Everyone",
		"create worker Alice", "create worker Bob", "create worker Carol",
		"create workflow Inbound calls", "create flow queuebridge IVR",
		"update number +15005550006",
	}, actions(plan))
	ws := plan.Changes[0]
	assert.Contains(t, ws.Fields, PlanField{Name: "event_callback_url", New: "https://bridge.example.com/taskrouter/events" + handlers.Overrides})
	assert.Contains(t, ws.Fields, PlanField{Name: "timeout_activity", New: "Missed Call"})
	number := plan.Changes[len(plan.Changes)-1]
	assert.Contains(t, number.Fields, PlanField{Name: "voice_url", New: "(webhook_url of new flow queuebridge IVR)"})
}

func TestApplyOnEmptyAccountCreatesEverythingInDependencyOrder(t *testing.T) {
	fake := newFakeTwilio()
	done := applySpec(t, fake, exampleSpec(t))

	assert.Equal(t, everythingCreated, fake.writes())

	require.Len(t, fake.workspaces, 1)
	ws := fake.workspaces[0]
	assert.Equal(t, "https://bridge.example.com/taskrouter/events"+handlers.Overrides, ws.EventCallbackURL)
	assert.Equal(t, "reservation.created,reservation.accepted,reservation.rejected,reservation.timeout,reservation.canceled,reservation.rescinded,reservation.completed,reservation.wrapup,task.canceled,task.completed,task.created,task-queue.entered,worker.activity.update", ws.EventsFilter)
	activity := map[string]ProvisionedActivity{}
	for _, a := range ws.activities {
		activity[a.Name] = a
	}
	require.Len(t, activity, 4)
	assert.False(t, activity["Missed Call"].Available)
	assert.Equal(t, activity["Missed Call"].SID, ws.TimeoutActivitySID)
	assert.Equal(t, activity["Offline"].SID, ws.DefaultActivitySID)

	queue := map[string]ProvisionedQueue{}
	for _, q := range ws.queues {
		queue[q.Name] = q
	}
	assert.Equal(t, `skills HAS "sales"`, queue["Sales"].TargetWorkers)
	assert.Equal(t, 1, queue["Sales"].MaxReservedWorkers)

	require.Len(t, ws.workers, 3)
	assert.JSONEq(t, `{"contact_uri":"+15005550101","skills":["sales","support"],"languages":["en"]}`, ws.workers[0].Attributes)
	assert.Equal(t, activity["Available"].SID, ws.workers[0].ActivitySID)

	require.Len(t, ws.workflows, 1)
	wf := ws.workflows[0]
	assert.Equal(t, 105, wf.TaskReservationTimeout)
	assert.JSONEq(t, `{"task_routing":{"filters":[
		{"filter_friendly_name":"Sales","expression":"department == \"sales\"","targets":[{"queue":"`+queue["Sales"].SID+`","timeout":120},{"queue":"`+queue["Everyone"].SID+`"}]},
		{"filter_friendly_name":"Support","expression":"department == \"support\"","targets":[{"queue":"`+queue["Support"].SID+`","timeout":120},{"queue":"`+queue["Everyone"].SID+`"}]}],
		"default_filter":{"queue":"`+queue["Everyone"].SID+`"}}}`, wf.Configuration)

	require.Len(t, fake.flows, 1)
	flow := fake.flows[0]
	assert.Equal(t, studio.StatusPublished, flow.Status)
	def, err := studio.Render(exampleSpec(t).FlowParams(testSettings(), wf.SID))
	require.NoError(t, err)
	assert.Equal(t, studio.CommitMessage(def), flow.CommitMessage, "the flow enqueues to the created workflow")

	assert.Equal(t, flow.WebhookURL, fake.numbers[0].VoiceURL)
	assert.Equal(t, "POST", fake.numbers[0].VoiceMethod)

	assert.Equal(t, ProvisionOutputs{
		WorkspaceSID: ws.SID, WorkflowSID: wf.SID, FlowSID: flow.SID, FlowWebhookURL: flow.WebhookURL,
		Activities: map[string]string{"Available": activity["Available"].SID, "Unavailable": activity["Unavailable"].SID, "Offline": activity["Offline"].SID, "Missed Call": activity["Missed Call"].SID},
		Queues:     map[string]string{"Sales": queue["Sales"].SID, "Support": queue["Support"].SID, "Everyone": queue["Everyone"].SID},
		Workers:    map[string]string{"Alice": ws.workers[0].SID, "Bob": ws.workers[1].SID, "Carol": ws.workers[2].SID},
		Numbers:    map[string]string{"+15005550006": "PN00000000000000000000000000000001"},
	}, done.Outputs)
	assert.Equal(t, PlanSummary{Create: 10, Update: 1, Unchanged: 3}, done.Summary(), "the applied plan says what was done")
	for _, c := range done.Changes {
		assert.NotEmpty(t, c.SID, "%s %s %s: the applied plan has every SID", c.Action, c.Kind, c.Name)
	}
}

func TestSecondApplyPlansNothingAndWritesNothing(t *testing.T) {
	fake := newFakeTwilio()
	first := applySpec(t, fake, exampleSpec(t))
	fake.resetCalls()

	p := NewProvisioner(fake, testSettings())
	plan, err := p.Plan(context.Background(), exampleSpec(t))
	require.NoError(t, err)
	assert.False(t, plan.HasChanges(), "%v", actions(plan))
	assert.Equal(t, PlanSummary{Unchanged: 14}, plan.Summary())
	assert.Equal(t, first.Outputs, plan.Outputs, "a no-op plan still knows every SID")

	_, err = p.Apply(context.Background(), plan)
	require.NoError(t, err)
	assert.Empty(t, fake.writes())
}

func TestChangingOneContactURIUpdatesOnlyThatWorker(t *testing.T) {
	fake := newFakeTwilio()
	applySpec(t, fake, exampleSpec(t))
	fake.resetCalls()

	spec := exampleSpec(t)
	spec.Workers[1].ContactURI = "+15005550199"
	p := NewProvisioner(fake, testSettings())
	plan, err := p.Plan(context.Background(), spec)
	require.NoError(t, err)
	assert.Equal(t, PlanSummary{Update: 1, Unchanged: 13}, plan.Summary())
	var bob PlanChange
	for _, c := range plan.Changes {
		if c.Action == PlanUpdate {
			bob = c
		}
	}
	assert.Equal(t, "Bob", bob.Name)
	require.Len(t, bob.Fields, 1)
	assert.Equal(t, "attributes", bob.Fields[0].Name)
	assert.JSONEq(t, `{"contact_uri":"+15005550102","skills":["support"],"languages":["en","es"]}`, bob.Fields[0].Old)
	assert.JSONEq(t, `{"contact_uri":"+15005550199","skills":["support"],"languages":["en","es"]}`, bob.Fields[0].New)

	_, err = p.Apply(context.Background(), plan)
	require.NoError(t, err)
	assert.Equal(t, []string{"update worker Bob"}, fake.writes())
	assert.JSONEq(t, `{"contact_uri":"+15005550199","skills":["support"],"languages":["en","es"]}`, fake.workspaces[0].workers[1].Attributes)
}

func TestChangingRoutingUpdatesQueueWorkflowAndFlowOnly(t *testing.T) {
	fake := newFakeTwilio()
	applySpec(t, fake, exampleSpec(t))
	fake.resetCalls()

	spec := exampleSpec(t)
	spec.Queues[0].MaxReservedWorkers = 2
	spec.Workflow.Filters[0].Targets[0].Timeout = 30
	spec.Flow.Greeting = "Hello again."
	plan, err := NewProvisioner(fake, testSettings()).Plan(context.Background(), spec)
	require.NoError(t, err)
	for _, c := range plan.Changes {
		if c.Kind == PlanKindQueue && c.Name == "Sales" {
			assert.Equal(t, []PlanField{{Name: "max_reserved_workers", Old: "1", New: "2"}}, c.Fields)
		}
	}
	applySpec(t, fake, spec)
	assert.Equal(t, []string{"update queue Sales", "update workflow Inbound calls", "update flow queuebridge IVR"}, fake.writes())
}

func TestTeardownRemovesExactlyWhatTheSpecOwns(t *testing.T) {
	fake := newFakeTwilio()
	applySpec(t, fake, exampleSpec(t))
	// Things the spec does not own: another workspace, another flow, another number.
	ctx := context.Background()
	other, err := fake.CreateWorkspace(ctx, ProvisionedWorkspace{Name: "someone else"})
	require.NoError(t, err)
	otherFlow, err := fake.CreateFlow(ctx, "other IVR", mustRender(t), "x")
	require.NoError(t, err)
	fake.numbers = append(fake.numbers, ProvisionedNumber{SID: "PN2", PhoneNumber: "+15005550009", VoiceURL: otherFlow.WebhookURL})
	fake.resetCalls()

	p := NewProvisioner(fake, testSettings())
	plan, err := p.PlanTeardown(ctx, exampleSpec(t))
	require.NoError(t, err)
	assert.Empty(t, fake.writes())
	assert.Equal(t, []string{
		"update number +15005550006", "delete flow queuebridge IVR",
		"delete workflow Inbound calls", "delete worker Alice", "delete worker Bob", "delete worker Carol",
		"delete queue Sales", "delete queue Support", "delete queue Everyone",
		"delete activity Offline", "delete activity Available", "delete activity Unavailable", "delete activity Missed Call",
		"delete workspace queuebridge",
	}, actions(plan))

	_, err = p.Apply(ctx, plan)
	require.NoError(t, err)
	assert.Equal(t, []string{"update number +15005550006", "delete flow queuebridge IVR", "delete workspace queuebridge"}, fake.writes(),
		"deleting the workspace deletes what it holds")
	require.Len(t, fake.workspaces, 1)
	assert.Equal(t, other.SID, fake.workspaces[0].SID)
	require.Len(t, fake.flows, 1)
	assert.Equal(t, otherFlow.SID, fake.flows[0].SID)
	assert.Equal(t, "", fake.numbers[0].VoiceURL, "the number is detached, never released")
	assert.Equal(t, otherFlow.WebhookURL, fake.numbers[1].VoiceURL)

	// A second teardown has nothing left to do.
	fake.resetCalls()
	again, err := p.PlanTeardown(ctx, exampleSpec(t))
	require.NoError(t, err)
	assert.False(t, again.HasChanges(), "%v", actions(again))
}

// The guard of teardown: a workspace that holds anything the spec does not own is never
// deleted (that would delete the foreign resource with it); the spec's resources in it are
// deleted one by one.
// The guard of teardown: deleting a workspace deletes everything in it, so a workspace that also
// holds something the spec does not own is kept, and the spec's resources in it are deleted one
// by one.
func TestTeardownKeepsAWorkspaceThatHoldsForeignResources(t *testing.T) {
	tests := []struct {
		kind, name string
		add        func(ws *fakeWorkspace) // puts the foreign resource in the workspace
	}{
		{"worker", "Dave", func(ws *fakeWorkspace) {
			ws.workers = append(ws.workers, ProvisionedWorker{SID: "WKforeign", Name: "Dave", Attributes: `{}`})
		}},
		{"workflow", "Overflow", func(ws *fakeWorkspace) {
			ws.workflows = append(ws.workflows, ProvisionedWorkflow{SID: "WWforeign", Name: "Overflow", Configuration: `{}`})
		}},
		{"queue", "Overflow", func(ws *fakeWorkspace) {
			ws.queues = append(ws.queues, ProvisionedQueue{SID: "WQforeign", Name: "Overflow", TargetWorkers: "1==1"})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			fake := newFakeTwilio()
			applySpec(t, fake, exampleSpec(t))
			tt.add(fake.workspaces[0])
			fake.resetCalls()

			ctx := context.Background()
			p := NewProvisioner(fake, testSettings())
			plan, err := p.PlanTeardown(ctx, exampleSpec(t))
			require.NoError(t, err)
			_, err = p.Apply(ctx, plan)
			require.NoError(t, err)

			assert.Equal(t, []string{
				"update number +15005550006", "delete flow queuebridge IVR",
				"delete workflow Inbound calls", "delete worker Alice", "delete worker Bob", "delete worker Carol",
				"delete queue Sales", "delete queue Support", "delete queue Everyone",
			}, fake.writes(), "the spec's resources one by one; neither the workspace nor the foreign %s", tt.kind)
			require.Len(t, fake.workspaces, 1)
			last := plan.Changes[len(plan.Changes)-1]
			assert.Equal(t, PlanUnchanged, last.Action)
			assert.Equal(t, fmt.Sprintf("kept with its activities: it also holds %s %q, which the spec does not own", tt.kind, tt.name), last.Note)
		})
	}
}

func TestApplyErrors(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, fake *fakeTwilio)
		spec    func(s *Spec)
		want    string
	}{
		{
			name:    "Twilio error names code, message and resource",
			prepare: func(_ *testing.T, fake *fakeTwilio) { fake.failOn = "create worker Bob" },
			want:    `create worker "Bob": Twilio error 20001: Invalid parameter (HTTP 400) https://www.twilio.com/docs/errors/20001`,
		},
		{
			name: "number not in the account",
			spec: func(s *Spec) { s.Numbers[0].PhoneNumber = "+15005550123" },
			want: `number "+15005550123": not in this account: buy it in the Twilio console (Phone Numbers > Buy a number) or fix numbers[] in the spec`,
		},
		{
			name: "two workspaces with the spec's name",
			prepare: func(t *testing.T, fake *fakeTwilio) {
				for range 2 {
					_, err := fake.CreateWorkspace(context.Background(), ProvisionedWorkspace{Name: "queuebridge"})
					require.NoError(t, err)
				}
			},
			want: `workspace "queuebridge": 2 workspaces have this name (WS00000000000000000000000000000001, WS00000000000000000000000000000005…): which one the spec owns is ambiguous; delete or rename the extra ones`,
		},
		{
			name: "two workflows with the spec's name",
			prepare: func(t *testing.T, fake *fakeTwilio) {
				ws, err := fake.CreateWorkspace(context.Background(), ProvisionedWorkspace{Name: "queuebridge"})
				require.NoError(t, err)
				for range 2 {
					_, err := fake.CreateWorkflow(context.Background(), ws.SID, ProvisionedWorkflow{Name: "Inbound calls"})
					require.NoError(t, err)
				}
			},
			want: `workflow "Inbound calls": 2 workflows have this name (WW00000000000000000000000000000005, WW00000000000000000000000000000006…): delete the extra ones`,
		},
		{
			name: "two flows with the spec's name",
			prepare: func(t *testing.T, fake *fakeTwilio) {
				for range 2 {
					_, err := fake.CreateFlow(context.Background(), "queuebridge IVR", mustRender(t), "x")
					require.NoError(t, err)
				}
			},
			want: `flow "queuebridge IVR": 2 flows have this name (FW00000000000000000000000000000001, FW00000000000000000000000000000002…): delete the extra ones`,
		},
		{
			name: "activity availability cannot change",
			prepare: func(t *testing.T, fake *fakeTwilio) {
				_, err := fake.CreateWorkspace(context.Background(), ProvisionedWorkspace{Name: "queuebridge"})
				require.NoError(t, err)
			},
			spec: func(s *Spec) { s.Activities[1].Available = true },
			want: `activities[1] "Unavailable": exists (WA00000000000000000000000000000004) with available=false, the spec says true, and TaskRouter cannot change an activity's availability: rename it in the spec or delete it in the console`,
		},
		{
			name: "invalid spec",
			spec: func(s *Spec) { s.Workers[0].ContactURI = "" },
			want: "invalid spec:\n  workers[0].contact_uri \"\": is required: the number or SIP URI the bridge rings for worker \"Alice\"",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeTwilio()
			if tt.prepare != nil {
				tt.prepare(t, fake)
			}
			fake.resetCalls()
			spec := exampleSpec(t)
			if tt.spec != nil {
				tt.spec(spec)
			}
			p := NewProvisioner(fake, testSettings())
			plan, err := p.Plan(context.Background(), spec)
			if err == nil {
				_, err = p.Apply(context.Background(), plan)
			}
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
		})
	}
}

func TestProvisionErrorUnwrapsToTheTwilioError(t *testing.T) {
	fake := newFakeTwilio()
	fake.failOn = "create queue Sales"
	p := NewProvisioner(fake, testSettings())
	plan, err := p.Plan(context.Background(), exampleSpec(t))
	require.NoError(t, err)
	_, err = p.Apply(context.Background(), plan)
	var pe *ProvisionError
	require.True(t, errors.As(err, &pe))
	assert.Equal(t, "create", pe.Op)
	assert.Equal(t, PlanKindQueue, pe.Kind)
	var tw *client.TwilioRestError
	require.True(t, errors.As(err, &tw))
	assert.Equal(t, 20001, tw.Code)
	// What was done before the failure stays done; a second apply picks up from there.
	assert.Equal(t, everythingCreated[:4], fake.writes())
	fake.failOn = ""
	fake.resetCalls()
	applySpec(t, fake, exampleSpec(t))
	assert.Equal(t, everythingCreated[3:], fake.writes())
}

func TestApplyRejectsAPlanFromElsewhere(t *testing.T) {
	_, err := NewProvisioner(newFakeTwilio(), testSettings()).Apply(context.Background(), &Plan{Mode: PlanModeApply})
	assert.EqualError(t, err, "apply: the plan was not made by this package's Plan or PlanTeardown")
}

func TestPlanMarshalsForScripts(t *testing.T) {
	fake := newFakeTwilio()
	done := applySpec(t, fake, exampleSpec(t))
	b, err := json.Marshal(done)
	require.NoError(t, err)
	var back struct {
		Mode    string `json:"mode"`
		Changes []struct {
			Action, Kind, Name, SID string
		} `json:"changes"`
		Outputs struct {
			WorkspaceSID string `json:"workspace_sid"`
		} `json:"outputs"`
	}
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, "apply", back.Mode)
	assert.Equal(t, "create", back.Changes[0].Action)
	assert.Equal(t, fake.workspaces[0].SID, back.Changes[0].SID)
	assert.Equal(t, fake.workspaces[0].SID, back.Outputs.WorkspaceSID)
}

func mustRender(t *testing.T) json.RawMessage {
	t.Helper()
	def, err := studio.Render(exampleSpec(t).FlowParams(testSettings(), "WW00000000000000000000000000000009"))
	require.NoError(t, err)
	return def
}

func TestApplySpecProvisionsTheExampleInOneCall(t *testing.T) {
	fake := newFakeTwilio()
	spec, err := LoadSpec(ExampleSpec)
	require.NoError(t, err)
	p := NewProvisioner(fake, testSettings())
	done, err := p.ApplySpec(context.Background(), spec)
	require.NoError(t, err)
	assert.Equal(t, everythingCreated, fake.writes())
	assert.Equal(t, fake.workspaces[0].SID, done.Outputs.WorkspaceSID)
	assert.Equal(t, fake.workspaces[0].workflows[0].SID, done.Outputs.WorkflowSID)
	assert.NotEmpty(t, done.Outputs.Activities["Missed Call"])

	fake.resetCalls()
	again, err := p.ApplySpec(context.Background(), spec)
	require.NoError(t, err)
	assert.Empty(t, fake.writes())
	assert.Equal(t, done.Outputs, again.Outputs)
}

func TestPlanSaysDefaultActivitiesAreAdopted(t *testing.T) {
	plan, err := NewProvisioner(newFakeTwilio(), testSettings()).Plan(context.Background(), exampleSpec(t))
	require.NoError(t, err)
	notes := map[string]string{}
	for _, c := range plan.Changes {
		if c.Kind == PlanKindActivity {
			notes[c.Name] = c.Note
		}
	}
	adopted := "a new workspace comes with it: adopted, not created again"
	assert.Equal(t, map[string]string{"Available": adopted, "Unavailable": adopted, "Offline": adopted, "Missed Call": ""}, notes)
}
