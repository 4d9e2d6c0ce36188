package sandbox

import (
	"time"

	"queuebridge/sandbox/voice"
)

// A call's story spans several engines: the caller's call, the task it became, the task's
// reservations, and each agent leg the application placed for a reservation. Twilio never ties
// an agent leg to a reservation (the application creates it with Calls.create), so the sandbox
// attributes an outbound call to the latest reservation of the worker whose contact_uri it
// dials, created before the call. That is exact for one call per reservation, which is what a
// correct application does.

// reservationInfo is what the timeline says of a reservation when it was created.
type reservationInfo struct {
	task, worker string
	created      time.Time
}

// legs attributes the agent legs to reservations: agent leg call SID → reservation SID.
func (s *Sandbox) legs(reservations map[string]reservationInfo, firstSeen map[string]time.Time, calls []voice.CallInfo) map[string]string {
	contact := map[string]string{} // worker sid → contact_uri
	for _, r := range reservations {
		if _, ok := contact[r.worker]; ok {
			continue
		}
		if w, ok := s.tr.Worker(r.worker); ok {
			uri, _ := w.Attributes["contact_uri"].(string)
			contact[r.worker] = uri
		}
	}
	legOf := map[string]string{}
	for _, c := range calls {
		if c.Direction != "outbound-api" {
			continue
		}
		seen := firstSeen[c.Sid]
		best, bestAt := "", time.Time{}
		for wr, r := range reservations {
			if contact[r.worker] == "" || contact[r.worker] != c.To || r.created.After(seen) {
				continue
			}
			if best == "" || r.created.After(bestAt) {
				best, bestAt = wr, r.created
			}
		}
		if best != "" {
			legOf[c.Sid] = best
		}
	}
	return legOf
}

// related returns the SIDs whose entries belong to sid's story.
func (s *Sandbox) related(sid string) map[string]bool {
	set := map[string]bool{sid: true}
	reservations := map[string]reservationInfo{}
	firstSeen := map[string]time.Time{}
	for _, e := range s.rec.Entries("") {
		if _, ok := firstSeen[e.Sid]; !ok {
			firstSeen[e.Sid] = e.Time
		}
		if _, ok := reservations[e.Sid]; !ok && e.Kind == "reservation" {
			reservations[e.Sid] = reservationInfo{task: e.Detail["task"], worker: e.Detail["worker"], created: e.Time}
		}
	}
	calls := s.voice.Calls()
	legOf := s.legs(reservations, firstSeen, calls)

	// The task the story is about.
	task := ""
	switch {
	case len(sid) > 2 && sid[:2] == "WT":
		task = sid
	case len(sid) > 2 && sid[:2] == "WR":
		task = reservations[sid].task
	case len(sid) > 2 && sid[:2] == "CA":
		for _, c := range calls {
			if c.Sid != sid {
				continue
			}
			switch {
			case c.TaskSid != "":
				task = c.TaskSid
			case legOf[sid] != "":
				task = reservations[legOf[sid]].task
			}
		}
	}
	if task != "" {
		set[task] = true
		for wr, r := range reservations {
			if r.task == task {
				set[wr] = true
			}
		}
		for _, c := range calls {
			if c.TaskSid == task || set[legOf[c.Sid]] {
				set[c.Sid] = true
			}
		}
	}
	// Calls bridged with or dialed by a call of the story belong to it too.
	for _, c := range calls {
		if set[c.Sid] && c.BridgedWith != "" {
			set[c.BridgedWith] = true
		}
	}
	for _, c := range calls {
		if c.ParentCallSid != "" && set[c.ParentCallSid] {
			set[c.Sid] = true
		}
	}
	return set
}

// concerns reports whether e is about one of the SIDs in set.
func concerns(e Entry, set map[string]bool) bool {
	if set[e.Sid] {
		return true
	}
	for _, k := range []string{"task", "reservation", "call"} {
		if v := e.Detail[k]; v != "" && set[v] {
			return true
		}
	}
	return false
}
