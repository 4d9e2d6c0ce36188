package main

import (
	"math"
	"sort"
	"strings"
	"time"

	"queuebridge/sandbox"
	"queuebridge/sandbox/voice"
)

// Result is one strategy's day in numbers. Times are simulated seconds; every field is the same
// for the same seed on any machine (the wall-clock time of the run is reported apart).
type Result struct {
	Key       string `json:"key"`
	Strategy  string `json:"strategy"`
	Available bool   `json:"available"`
	// Missing says why a strategy did not run.
	Missing string            `json:"missing,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	// MaxReservedWorkers is the queues' setting (agents rung at once).
	MaxReservedWorkers int `json:"max_reserved_workers,omitempty"`

	Callers int `json:"callers"`
	// Bridged: callers connected to a person.
	Bridged int `json:"bridged"`
	// ReachedAgentVoicemail: callers connected to an agent's voicemail box; of them,
	// ViaAMDError were connected because AMD took the box for a person.
	ReachedAgentVoicemail int `json:"reached_agent_voicemail"`
	ViaAMDError           int `json:"reached_agent_voicemail_via_amd_error"`
	// LeftVoicemail: callers the IVR sent to its voicemail (the queue gave up on them) who left
	// a message; VoicemailNoMessage hung up at the prompt without one.
	LeftVoicemail      int `json:"left_voicemail"`
	VoicemailNoMessage int `json:"voicemail_no_message"`
	// Abandoned: callers who hung up while waiting in the queue.
	Abandoned int `json:"abandoned"`
	// Other: callers who ended any other way (none expected; listed in Problems).
	Other int `json:"other"`

	// Time to a human: from entering the queue to being connected to a person, over the
	// callers who were.
	TimeToHumanMean float64   `json:"time_to_human_mean_s"`
	TimeToHumanP50  float64   `json:"time_to_human_p50_s"`
	TimeToHumanP90  float64   `json:"time_to_human_p90_s"`
	TimesToHuman    []float64 `json:"-"`
	// Within30s: callers connected to a person within 30 s of entering the queue, a service
	// level over every caller (those sent to a voicemail or who gave up count as missed).
	Within30s int `json:"reached_person_within_30s"`

	// LegsPlaced: agent legs the bridge placed (Calls.create); LegsNotConnected of them never
	// connected a caller, and AgentMinutesNotConnected is their time from creation to end.
	LegsPlaced               int     `json:"legs_placed"`
	LegsNotConnected         int     `json:"legs_not_connected"`
	AgentMinutesNotConnected float64 `json:"agent_minutes_not_connected"`
	// LegKinds counts the legs by who (or what) answered them.
	LegKinds map[string]int `json:"leg_kinds,omitempty"`

	// AMD as measured: legs answered by a person or a voicemail box that AMD judged, and how
	// many it misjudged (realised by the personas' greetings, docs/SIMDAY.md).
	AMDJudged   int     `json:"amd_judged"`
	AMDErrors   int     `json:"amd_errors"`
	AMDAccuracy float64 `json:"amd_accuracy"`

	// Steps is how many timers the day ran: the same count means the same day.
	Steps    int      `json:"steps"`
	Problems []string `json:"problems,omitempty"`
	// Wall is how long the run took on this machine (not in the JSON: it is not deterministic).
	Wall time.Duration `json:"-"`
}

// serviceLevelWithin is the answer time of the service level reported beside the means.
const serviceLevelWithin = 30 * time.Second

// callerStory is what the timeline tells of one caller's call.
type callerStory struct {
	enqueued, bridged time.Time
	bridgedWith       string
	message, gaveUp   bool
}

// measure reads the day's outcome from the sandbox: its calls and their timelines, and the
// leg book's record of who answered each agent leg.
func (r *dayRun) measure() Result {
	res := Result{Key: r.strat.Key, Strategy: r.strat.Name, Available: true, Env: r.strat.env(),
		MaxReservedWorkers: r.strat.MaxReservedWorkers, Callers: len(r.day.Callers), Steps: r.drv.steps, LegKinds: map[string]int{}}
	stories := map[string]*callerStory{}
	for _, sid := range r.callSids {
		stories[sid] = &callerStory{}
	}
	timeline := r.env.Sandbox.Timeline("")
	for _, e := range timeline {
		if e.Kind != "call" {
			continue
		}
		s := stories[e.Sid]
		if s == nil {
			continue
		}
		switch {
		case e.What == "enqueued" && s.enqueued.IsZero():
			s.enqueued = e.Time
		case e.What == "bridged" && s.bridged.IsZero():
			s.bridged, s.bridgedWith = e.Time, e.Detail["with"]
		case e.What == "record: message":
			s.message = true
		case e.What == "caller hung up in queue":
			s.gaveUp = true
		}
	}
	calls := map[string]voice.CallInfo{}
	for _, c := range r.env.Sandbox.Voice().Calls() {
		calls[c.Sid] = c
	}
	r.sortCallers(&res, stories, calls)
	r.countLegs(&res, timeline, calls)
	sort.Float64s(res.TimesToHuman)
	for _, t := range res.TimesToHuman {
		if t <= serviceLevelWithin.Seconds() {
			res.Within30s++
		}
	}
	res.TimeToHumanMean = round1(mean(res.TimesToHuman))
	res.TimeToHumanP50 = round1(percentile(res.TimesToHuman, 0.5))
	res.TimeToHumanP90 = round1(percentile(res.TimesToHuman, 0.9))
	res.AgentMinutesNotConnected = round1(res.AgentMinutesNotConnected)
	if res.AMDJudged > 0 {
		res.AMDAccuracy = math.Round(10000*(1-float64(res.AMDErrors)/float64(res.AMDJudged))) / 10000
	}
	return res
}

// sortCallers puts every caller in exactly one outcome.
func (r *dayRun) sortCallers(res *Result, stories map[string]*callerStory, calls map[string]voice.CallInfo) {
	for i, sid := range r.callSids {
		s := stories[sid]
		info := calls[sid]
		switch {
		case s == nil || sid == "":
			res.Other++
			res.Problems = append(res.Problems, r.day.Callers[i].Number+": never placed")
		case s.bridgedWith != "":
			leg, ok := r.legs.leg(s.bridgedWith)
			switch {
			case !ok:
				res.Other++
				res.Problems = append(res.Problems, sid+": bridged to a leg the day did not script")
			case isVoicemail(leg.Kind):
				res.ReachedAgentVoicemail++
				if calls[s.bridgedWith].AnsweredBy == voice.AnsweredHuman {
					res.ViaAMDError++
				}
			default:
				res.Bridged++
				res.TimesToHuman = append(res.TimesToHuman, s.bridged.Sub(s.enqueued).Seconds())
			}
		case s.gaveUp:
			res.Abandoned++
		case s.message:
			res.LeftVoicemail++
		case info.QueueResult == "leave":
			res.VoicemailNoMessage++
		default:
			res.Other++
			res.Problems = append(res.Problems, sid+": ended "+info.Status+", queue result "+info.QueueResult)
		}
	}
}

// countLegs tallies the agent legs: who answered, how long the unconnected ones took, AMD.
func (r *dayRun) countLegs(res *Result, timeline []sandbox.Entry, calls map[string]voice.CallInfo) {
	created := map[string]time.Time{}
	for _, e := range timeline {
		if e.Kind == "call" && e.What == "created" {
			created[e.Sid] = e.Time
		}
	}
	for _, c := range sortedCalls(calls) {
		if c.Direction != "outbound-api" {
			continue
		}
		res.LegsPlaced++
		leg, ok := r.legs.leg(c.Sid)
		kind := leg.Kind
		if !ok {
			kind = "unscripted"
		}
		res.LegKinds[kind]++
		if c.BridgedWith == "" {
			res.LegsNotConnected++
			if start, ok := created[c.Sid]; ok && !c.EndTime.IsZero() {
				res.AgentMinutesNotConnected += c.EndTime.Sub(start).Minutes()
			}
		}
		if c.AnsweredBy == "" || kind == legNoAnswer || !ok {
			continue
		}
		res.AMDJudged++
		human := c.AnsweredBy == voice.AnsweredHuman
		if human != (kind == legHuman || kind == legHumanLongHello) {
			res.AMDErrors++
		}
	}
}

func isVoicemail(kind string) bool { return strings.HasPrefix(kind, legVoicemail) }

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

// percentile is the nearest-rank percentile of sorted xs.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(rank, 0)]
}

func round1(x float64) float64 { return math.Round(10*x) / 10 }

// sortedCalls lists the calls in SID order: sums over them then never depend on map order.
func sortedCalls(calls map[string]voice.CallInfo) []voice.CallInfo {
	out := make([]voice.CallInfo, 0, len(calls))
	for _, c := range calls {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Sid < out[j].Sid })
	return out
}
