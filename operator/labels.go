package operator

import (
	"strings"
	"unicode"

	"queuebridge/taskrouter"
)

// legStatus is what an agent leg is doing, for the page: a status the page styles and tests
// look for, and the words people read.
func legStatus(r taskrouter.Reservation) (status, label string) {
	switch r.State {
	case taskrouter.StatePending, taskrouter.StateDialing:
		return "dialing", "calling the agent's phone"
	case taskrouter.StateRinging:
		if r.CallStatus == taskrouter.CallInProgress {
			return "amd", "answered: AMD listening"
		}
		return "ringing", "ringing"
	case taskrouter.StateConfirming:
		return "confirm", "answered: whisper, waiting for the agent's key"
	case taskrouter.StateBridging:
		switch r.AnsweredBy {
		case "":
			return "human", "answered: connecting the caller"
		case taskrouter.AnsweredHuman:
			return "human", "human: connecting the caller"
		}
		return "human", string(r.AnsweredBy) + ": connecting the caller (UNKNOWN_ANSWER=connect)"
	case taskrouter.StateAccepted:
		return "bridged", "bridged: talking"
	case taskrouter.StateWrapping, taskrouter.StateCompleted:
		return "ended", "call over after the bridge"
	}
	return "ended", r.Outcome.String()
}

func (m *Model) callRow(c *call) CallRow {
	row := CallRow{Key: c.task, Caller: m.mask(c.from), Queue: c.queue, Since: c.since.UnixMilli(),
		Status: "waiting", Label: "waiting in the queue", Tries: append([]string(nil), c.tries...)}
	if row.Caller == "" {
		row.Caller = "unknown"
	}
	if l := m.legs[c.leg]; l != nil && live(l.r) {
		row.Status, _ = legStatus(l.r)
		row.Agent = l.r.WorkerName
		row.Label = callLabel(row.Status, l.r)
	}
	return row
}

// callLabel says what is happening to the caller, naming the agent.
func callLabel(status string, r taskrouter.Reservation) string {
	name := agentName(r)
	switch status {
	case "dialing":
		return "calling " + name
	case "ringing":
		return "ringing " + name
	case "amd":
		return name + " answered: AMD listening"
	case "confirm":
		return name + " answered: hearing the whisper, asked to press the key"
	case "human":
		if r.AnsweredBy == "" || r.AnsweredBy == taskrouter.AnsweredHuman {
			return name + " answered in person: connecting"
		}
		return name + " answered (" + string(r.AnsweredBy) + "): connecting"
	case "bridged":
		return "talking with " + name
	}
	return status
}

func (m *Model) legRow(l *leg) LegRow {
	r := l.r
	row := LegRow{Key: r.SID, Agent: agentName(r), Number: m.mask(r.ContactURI), Task: r.TaskSID,
		Verdict: string(r.AnsweredBy), Started: l.started.UnixMilli(), Since: l.since.UnixMilli()}
	row.Status, row.Label = legStatus(r)
	row.Caller = m.mask(l.from)
	if row.Status == "ended" {
		row.Outcome = r.Outcome.String()
		if r.State == taskrouter.StateWrapping || r.State == taskrouter.StateCompleted {
			row.Outcome = "bridged"
		}
	}
	return row
}

func (m *Model) agentRow(a *agent) AgentRow {
	row := AgentRow{Key: a.sid, Name: a.name, Activity: a.activity, Missed: a.missed}
	if row.Name == "" {
		row.Name = a.sid
	}
	if !a.since.IsZero() {
		row.Since = a.since.UnixMilli()
	}
	if l := m.legs[a.leg]; l != nil && live(l.r) {
		_, row.Leg = legStatus(l.r)
	}
	return row
}

// MaskNumber hides most of a phone number or SIP identity, keeping enough to tell calls apart:
// "+15550100002" becomes "+1••••••0002", "sip:alice@pbx.example.com" "sip:a•••@pbx.example.com",
// "client:alice" "client:a•••". Values without digits or an identity ("anonymous") are kept.
func MaskNumber(s string) string {
	for _, scheme := range []string{"sip:", "client:"} {
		if strings.HasPrefix(strings.ToLower(s), scheme) {
			user, host, hasHost := strings.Cut(s[len(scheme):], "@")
			masked := s[:len(scheme)] + maskIdentity(user)
			if hasHost {
				masked += "@" + host
			}
			return masked
		}
	}
	digits := 0
	for _, r := range s {
		if unicode.IsDigit(r) {
			digits++
		}
	}
	if digits == 0 {
		return s
	}
	// The country code's first digit and the last four; of a short number, only its end.
	keepHead, keepTail := 1, 4
	if digits <= 8 {
		keepHead, keepTail = 0, 2
	}
	var b strings.Builder
	seen := 0
	for _, r := range s {
		if !unicode.IsDigit(r) {
			if r == '+' {
				b.WriteRune(r)
			}
			continue
		}
		seen++
		if seen <= keepHead || seen > digits-keepTail {
			b.WriteRune(r)
		} else {
			b.WriteRune('•')
		}
	}
	return b.String()
}

func maskIdentity(user string) string {
	if user == "" {
		return ""
	}
	first := []rune(user)[0]
	return string(first) + "•••"
}
