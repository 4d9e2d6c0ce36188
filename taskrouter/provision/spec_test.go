package provision

import (
	"errors"
	"queuebridge/handlers"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/taskrouter"
)

func testSettings() SpecSettings {
	return SpecSettings{PublicBaseURL: "https://bridge.example.com", RingTimeout: taskrouter.DefaultRingTimeout, AMDTimeout: taskrouter.DefaultAMDTimeout}
}

func exampleSpec(t *testing.T) *Spec {
	t.Helper()
	s, err := LoadSpec(ExampleSpec)
	require.NoError(t, err)
	return s
}

func TestExampleSpecIsValidWithDefaults(t *testing.T) {
	s := exampleSpec(t)
	require.NoError(t, s.Validate(testSettings()))
	assert.Equal(t, "queuebridge", s.Workspace.Name)
	assert.Equal(t, append(taskrouter.HandledEvents(), taskrouter.ObservedEvents()...), s.Workspace.Events,
		"no events listed: exactly the bridge's and the operator page's")
	assert.Equal(t, 1, s.Queues[0].MaxReservedWorkers, "default max_reserved_workers")
	assert.Equal(t, "+15005550101", s.Workers[0].ContactURI)
	assert.Equal(t, "+15005550006", s.Numbers[0].PhoneNumber)
	assert.Equal(t, 105, s.ReservationTimeout(testSettings()), "60 s ring + 30 s AMD + 15 s margin")
	confirm := testSettings()
	confirm.ConfirmTime = 30 * time.Second
	assert.Equal(t, 135, s.ReservationTimeout(confirm), "the whisper and confirmation's 30 s too")
	assert.Equal(t, "https://bridge.example.com/taskrouter/events"+handlers.Overrides, testSettings().EventCallbackURL())
}

func TestLoadSpecAcceptsJSON(t *testing.T) {
	s, err := LoadSpec([]byte(`{"workspace":{"name":"ws","timeout_activity":"Offline"},"queues":[{"name":"Q"}]}`))
	require.NoError(t, err)
	assert.Equal(t, "ws", s.Workspace.Name)
	assert.Equal(t, "1==1", s.Queues[0].TargetWorkers)
}

func TestLoadSpecRejectsAnEmptySpec(t *testing.T) {
	_, err := LoadSpec([]byte("# nothing\n"))
	assert.EqualError(t, err, "parse spec: the spec is empty")
}

func TestLoadSpecRejectsUnknownKeys(t *testing.T) {
	_, err := LoadSpec([]byte("workspace:\n  nmae: ws\n"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "field nmae not found")
}

func TestWorkerAttributesCarryContactURIAndSkills(t *testing.T) {
	w := SpecWorker{Name: "Alice", ContactURI: "+15005550101", Skills: []string{"sales"}, Attributes: map[string]any{"languages": []any{"en"}}}
	got, err := w.workerAttributes()
	require.NoError(t, err)
	assert.JSONEq(t, `{"contact_uri":"+15005550101","skills":["sales"],"languages":["en"]}`, got)
}

func TestSpecValidationErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(s *Spec, set *SpecSettings)
		want   []string
	}{
		{"worker without contact_uri", func(s *Spec, _ *SpecSettings) { s.Workers[1].ContactURI = "" },
			[]string{`workers[1].contact_uri "": is required: the number or SIP URI the bridge rings for worker "Bob"`}},
		{"worker contact_uri not E.164", func(s *Spec, _ *SpecSettings) { s.Workers[0].ContactURI = "5005550101" },
			[]string{`workers[0].contact_uri "5005550101": is not an E.164 number (+ and up to 15 digits) nor a sip: or client: URI`}},
		{"worker contact_uri SIP is fine", func(s *Spec, _ *SpecSettings) { s.Workers[0].ContactURI = "sip:alice@example.com" }, nil},
		{"unknown queue in a workflow target", func(s *Spec, _ *SpecSettings) { s.Workflow.Filters[0].Targets[0].Queue = "Salez" },
			[]string{`workflow.filters[0].targets[0].queue "Salez": no such queue in queues`}},
		{"unknown default queue", func(s *Spec, _ *SpecSettings) { s.Workflow.DefaultQueue = "Nobody" },
			[]string{`workflow.default_queue "Nobody": no such queue in queues`}},
		{"reservation timeout too short for ring + AMD", func(s *Spec, _ *SpecSettings) { s.Workflow.ReservationTimeout = 90 },
			[]string{`workflow.reservation_timeout "90": is shorter than ring timeout 1m0s + AMD timeout 30s + margin 15s = 105s: the reservation would expire while the agent's phone rings`}},
		{"reservation timeout checked against the configured ring timeout", func(s *Spec, set *SpecSettings) {
			s.Workflow.ReservationTimeout = 105
			set.RingTimeout = 90 * time.Second
		}, []string{`workflow.reservation_timeout "105": is shorter than ring timeout 1m30s + AMD timeout 30s + margin 15s = 135s: the reservation would expire while the agent's phone rings`}},
		{"reservation timeout long enough", func(s *Spec, _ *SpecSettings) { s.Workflow.ReservationTimeout = 105 }, nil},
		{"reservation timeout leaves room for the whisper and confirmation", func(s *Spec, set *SpecSettings) {
			s.Workflow.ReservationTimeout = 105
			set.ConfirmTime = 30 * time.Second
		}, []string{`workflow.reservation_timeout "105": is shorter than ring timeout 1m0s + AMD timeout 30s + whisper and confirmation 30s + margin 15s = 135s: the reservation would expire before the agent confirms`}},
		{"invalid E.164 phone number", func(s *Spec, _ *SpecSettings) { s.Numbers[0].PhoneNumber = "+0155500" },
			[]string{`numbers[0].phone_number "+0155500": is not an E.164 number (+ and up to 15 digits)`}},
		{"duplicate phone number", func(s *Spec, _ *SpecSettings) { s.Numbers = append(s.Numbers, s.Numbers[0]) },
			[]string{`numbers[1].phone_number "+15005550006": duplicate phone number`}},
		{"duplicate worker name, any case", func(s *Spec, _ *SpecSettings) { s.Workers[1].Name = "alice" },
			[]string{`workers[1].name "alice": duplicate worker name (names are case-insensitive)`}},
		{"duplicate queue name", func(s *Spec, _ *SpecSettings) { s.Queues[1].Name = "Sales" },
			[]string{`queues[1].name "Sales": duplicate queue name`, `workflow.filters[1].targets[0].queue "Support": no such queue in queues`}},
		{"duplicate activity name", func(s *Spec, _ *SpecSettings) { s.Activities[1].Name = "Available" },
			[]string{`activities[1].name "Available": duplicate activity name`}},
		{"max reserved workers out of range", func(s *Spec, _ *SpecSettings) { s.Queues[0].MaxReservedWorkers = 51 },
			[]string{`queues[0].max_reserved_workers "51": must be between 1 and 50`}},
		{"timeout activity not declared", func(s *Spec, _ *SpecSettings) { s.Workspace.TimeoutActivity = "Lunch" },
			[]string{`workspace.timeout_activity "Lunch": no such activity in activities`}},
		{"timeout activity missing", func(s *Spec, _ *SpecSettings) { s.Workspace.TimeoutActivity = "" },
			[]string{`workspace.timeout_activity "": is required`}},
		{"worker activity not declared", func(s *Spec, _ *SpecSettings) { s.Workers[2].Activity = "Busy" },
			[]string{`workers[2].activity "Busy": no such activity in activities`}},
		{"events filter misses an event the bridge needs", func(s *Spec, _ *SpecSettings) {
			s.Workspace.Events = []string{"reservation.created", "reservation.accepted", "reservation.rejected", "reservation.timeout",
				"reservation.canceled", "reservation.rescinded", "reservation.wrapup", "reservation.completed", "task.canceled"}
		}, []string{`workspace.events "reservation.created,reservation.accepted,reservation.rejected,reservation.timeout,reservation.canceled,reservation.rescinded,reservation.wrapup,reservation.completed,task.canceled": misses "task.completed", which the bridge needs`}},
		{"contact_uri inside attributes", func(s *Spec, _ *SpecSettings) { s.Workers[0].Attributes["contact_uri"] = "+15005550199" },
			[]string{`workers[0].attributes.contact_uri "+15005550199": set contact_uri on the worker, not in attributes`}},
		{"public base URL not absolute", func(_ *Spec, set *SpecSettings) { set.PublicBaseURL = "bridge.example.com" },
			[]string{`settings.PublicBaseURL "bridge.example.com": must be an absolute http(s) URL (where Twilio reaches the bridge)`}},
		{"ring and AMD timeouts not positive", func(_ *Spec, set *SpecSettings) { set.RingTimeout, set.AMDTimeout = 0, -time.Second },
			[]string{`settings.RingTimeout "0s": must be positive`, `settings.AMDTimeout "-1s": must be positive`}},
		{"workspace name missing", func(s *Spec, _ *SpecSettings) { s.Workspace.Name = " " },
			[]string{`workspace.name " ": is required`}},
		{"filter without targets", func(s *Spec, _ *SpecSettings) { s.Workflow.Filters[0].Targets = nil },
			[]string{`workflow.filters[0].targets "": at least one target is required`}},
		{"menu digit twice", func(s *Spec, _ *SpecSettings) { s.Flow.Menu.Options[1].Digit = "1" },
			[]string{`flow.menu.options[1].digit "1": duplicate menu digit`}},
		{"menu digit not a key", func(s *Spec, _ *SpecSettings) { s.Flow.Menu.Options[0].Digit = "12" },
			[]string{`flow.menu.options[0].digit "12": must be one key: 0-9 or * (# submits the menu, so it never picks an option)`}},
		{"menu digit # (the key that submits the menu)", func(s *Spec, _ *SpecSettings) { s.Flow.Menu.Options[1].Digit = "#" },
			[]string{`flow.menu.options[1].digit "#": must be one key: 0-9 or * (# submits the menu, so it never picks an option)`}},
		{"department that would break the flow's JSON", func(s *Spec, _ *SpecSettings) { s.Flow.Menu.Options[0].Department = `sa"les` },
			[]string{`flow.menu.options[0].department "sa\"les": must be non-empty, without quotes, braces, % or backslashes`}},
		{"voicemail prompt missing", func(s *Spec, _ *SpecSettings) { s.Flow.Voicemail.Prompt = "" },
			[]string{`flow.voicemail.prompt "": is required: callers hear it when nobody answers`}},
		{"wait URL neither absolute nor a path", func(s *Spec, _ *SpecSettings) { s.Flow.Wait, s.Flow.Enqueue.WaitURL = nil, "hold.xml" },
			[]string{`flow.enqueue.wait_url "hold.xml": must be an absolute http(s) URL or a path on settings.PublicBaseURL`}},
		{"own wait URL and the bridge's wait both", func(s *Spec, _ *SpecSettings) { s.Flow.Enqueue.WaitURL = "/hold" },
			[]string{`flow.enqueue.wait_url "/hold": set either flow.enqueue.wait_url (your own wait TwiML) or flow.wait (the bridge's), not both`}},
		{"wait settings out of range", func(s *Spec, _ *SpecSettings) {
			s.Flow.Wait = &SpecWait{AnnounceEvery: 5, MusicURL: "music.mp3", MusicSeconds: 4000, VoicemailKey: "**"}
		}, []string{
			`flow.wait.announce_every "5": must be between 10 and 600 seconds`,
			`flow.wait.music_url "music.mp3": must be an absolute http(s) URL or a path on settings.PublicBaseURL`,
			`flow.wait.music_seconds "4000": must be between 1 and 3600 seconds`,
			`flow.wait.voicemail_key "**": must be one key: 0-9, * or #`,
		}},
		{"every error is reported, not just the first", func(s *Spec, _ *SpecSettings) {
			s.Workers[0].ContactURI = ""
			s.Workflow.DefaultQueue = "Nobody"
			s.Numbers[0].PhoneNumber = "15005550006"
		}, []string{
			`workers[0].contact_uri "": is required: the number or SIP URI the bridge rings for worker "Alice"`,
			`workflow.default_queue "Nobody": no such queue in queues`,
			`numbers[0].phone_number "15005550006": is not an E.164 number (+ and up to 15 digits)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := exampleSpec(t)
			set := testSettings()
			tt.mutate(s, &set)
			err := s.Validate(set)
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			var errs SpecErrors
			require.True(t, errors.As(err, &errs), "want SpecErrors, got %v", err)
			got := make([]string, len(errs))
			for i, e := range errs {
				got[i] = e.Error()
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSpecErrorsMessageListsEveryProblem(t *testing.T) {
	errs := SpecErrors{{Field: "a", Value: "1", Problem: "bad"}, {Field: "b", Value: "", Problem: "is required"}}
	assert.Equal(t, "invalid spec:\n  a \"1\": bad\n  b \"\": is required", errs.Error())
}

// The package does not know where settings come from: a command maps these fields to its own
// names (cmd/bootstrap to its environment variables).
func TestSettingsProblemsNameTheSettingsField(t *testing.T) {
	err := exampleSpec(t).Validate(SpecSettings{})
	var errs SpecErrors
	require.ErrorAs(t, err, &errs)
	var fields []string
	for _, e := range errs {
		fields = append(fields, e.Field)
	}
	assert.Equal(t, []string{SpecFieldPublicBaseURL, SpecFieldRingTimeout, SpecFieldAMDTimeout}, fields)
}
