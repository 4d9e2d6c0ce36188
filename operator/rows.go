// Package operator is the live operator page: a read model of what the bridge does (every
// reservation transition the domain reports through taskrouter.Hooks.Transition) and of the
// TaskRouter events it receives (callers entering the queue, agents' activities, tasks ending),
// streamed to browsers over Server-Sent Events, and the page itself (embedded HTML, CSS and a
// little JavaScript), behind an operator token.
//
// It is an adapter beside metrics/: both turn the domain's hooks into something people read.
// It decides nothing about calls; it only shows them. Slow pages never slow the bridge: the
// model's updates are a few map writes and one non-blocking send per open page, and a page
// that falls behind is sent a fresh snapshot instead of being waited for.
package operator

// The rows the page shows. Every field is what the page displays, already decided here (the
// JavaScript only lays rows out): the labels are tested in Go. Times are Unix milliseconds of
// the server's clock; the page corrects for its own clock with Snapshot.Now and Patch.Now.

// CallRow is a caller in the queue or talking to an agent: one per TaskRouter task.
type CallRow struct {
	Key    string `json:"key"`    // the task SID
	Caller string `json:"caller"` // the caller's number, masked unless configured otherwise
	Queue  string `json:"queue"`
	Since  int64  `json:"since"` // when the caller was first seen waiting
	// Status is one of waiting, dialing, ringing, amd, confirm (the whisper and its key), human, bridged.
	Status string `json:"status"`
	Label  string `json:"label"`
	Agent  string `json:"agent,omitempty"`
	// Tries are the agents tried before, with how each leg ended ("Carol: answered by machine_start").
	Tries []string `json:"tries,omitempty"`
}

// LegRow is an agent leg: one per reservation, live or recently ended.
type LegRow struct {
	Key    string `json:"key"` // the reservation SID
	Agent  string `json:"agent"`
	Number string `json:"number"` // the agent's contact_uri, masked unless configured otherwise
	Task   string `json:"task"`
	Caller string `json:"caller,omitempty"`
	// Status is one of dialing, ringing, amd, confirm, human, bridged, ended.
	Status  string `json:"status"`
	Label   string `json:"label"`
	Verdict string `json:"verdict,omitempty"` // the AMD verdict, once given
	Outcome string `json:"outcome,omitempty"` // why it ended, once ended
	Started int64  `json:"started"`
	Since   int64  `json:"since"` // when Status last changed
}

// AgentRow is a worker.
type AgentRow struct {
	Key      string `json:"key"` // the worker SID
	Name     string `json:"name"`
	Activity string `json:"activity,omitempty"`
	Since    int64  `json:"since,omitempty"` // when the activity was last seen changing
	// Leg says what the agent's live leg is doing, if there is one.
	Leg string `json:"leg,omitempty"`
	// Missed is the agent's missed-call count; null when no count is fed (SetMissedCalls:
	// with REST_AFTER_MISSES on, the bridge feeds its count of consecutive missed calls).
	Missed *int `json:"missed"`
}

// OutcomeRow is how a caller's call ended.
type OutcomeRow struct {
	Key    string `json:"key"` // the task SID
	At     int64  `json:"at"`
	Caller string `json:"caller"`
	Queue  string `json:"queue,omitempty"`
	// Result is one of bridged, voicemail, abandoned, ended.
	Result string `json:"result"`
	Label  string `json:"label"`
	// Waited is how long the caller waited for an agent (until the bridge, or the end), in ms.
	Waited int64    `json:"waited"`
	Tries  []string `json:"tries,omitempty"`
}

// Counters are today's totals (the server's local day).
type Counters struct {
	Day       string `json:"day"`
	Bridged   int    `json:"bridged"`
	Voicemail int    `json:"voicemail"`
	Abandoned int    `json:"abandoned"`
	// Verdicts counts agent legs by AMD verdict, in a fixed order.
	Verdicts []VerdictCount `json:"verdicts"`
}

// VerdictCount is one AMD verdict's count.
type VerdictCount struct {
	Verdict string `json:"verdict"`
	Count   int    `json:"count"`
}

// VoicemailRow is a voicemail a caller left.
type VoicemailRow struct {
	Key        string `json:"key"` // the recording SID
	At         int64  `json:"at"`
	Caller     string `json:"caller"`
	Department string `json:"department,omitempty"`
	Seconds    int    `json:"seconds"`
	// Transcription is the text, once Twilio sent it (with flow.voicemail.transcribe).
	Transcription string `json:"transcription,omitempty"`
	// URL is the recording at Twilio (it asks for the account's credentials).
	URL string `json:"url"`
}

// RecordingRow is the recording of a bridged conversation (RECORD_CALLS).
type RecordingRow struct {
	Key      string `json:"key"` // the recording SID
	At       int64  `json:"at"`
	Task     string `json:"task"`
	Caller   string `json:"caller,omitempty"` // when the page still knows the call
	Agent    string `json:"agent,omitempty"`
	Seconds  int    `json:"seconds"`
	Channels int    `json:"channels"`
	URL      string `json:"url"`
}

// Snapshot is the whole page: what a new page is sent first, and again after it fell behind.
type Snapshot struct {
	Now      int64        `json:"now"`
	Calls    []CallRow    `json:"calls"`
	Legs     []LegRow     `json:"legs"`
	Agents   []AgentRow   `json:"agents"`
	Recent   []OutcomeRow `json:"recent"` // newest first
	Counters Counters     `json:"counters"`
	// Voicemails and Recordings are the last ones, newest first.
	Voicemails []VoicemailRow `json:"voicemails"`
	Recordings []RecordingRow `json:"recordings"`
	// RecentMax is how many outcomes the page keeps.
	RecentMax int `json:"recentMax"`
}

// Patch is one change: the rows it touched, the rows gone, and the counters when they moved.
type Patch struct {
	Now       int64        `json:"now"`
	Calls     []CallRow    `json:"calls,omitempty"`
	CallsGone []string     `json:"callsGone,omitempty"`
	Legs      []LegRow     `json:"legs,omitempty"`
	LegsGone  []string     `json:"legsGone,omitempty"`
	Agents    []AgentRow   `json:"agents,omitempty"`
	Outcomes  []OutcomeRow `json:"outcomes,omitempty"` // newest last
	Counters  *Counters    `json:"counters,omitempty"`
	// Voicemails and Recordings are new or changed rows, newest last.
	Voicemails []VoicemailRow `json:"voicemails,omitempty"`
	Recordings []RecordingRow `json:"recordings,omitempty"`
}

func (p *Patch) empty() bool {
	return len(p.Calls)+len(p.CallsGone)+len(p.Legs)+len(p.LegsGone)+len(p.Agents)+len(p.Outcomes)+
		len(p.Voicemails)+len(p.Recordings) == 0 && p.Counters == nil
}
