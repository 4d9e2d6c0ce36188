package testkit

import (
	"maps"
	"net/http"
	"strings"
)

// kind is one REST collection the fake knows: its list key, its singular name (for operation
// names) and its SID prefix.
type kind struct{ key, one, prefix string }

var kinds = map[string]kind{
	"Calls": {"calls", "call", "CA"}, "IncomingPhoneNumbers": {"incoming_phone_numbers", "incoming_phone_number", "PN"},
	"Workspaces": {"workspaces", "workspace", "WS"}, "Activities": {"activities", "activity", "WA"},
	"TaskQueues": {"task_queues", "task_queue", "WQ"}, "Workers": {"workers", "worker", "WK"},
	"Workflows": {"workflows", "workflow", "WW"}, "Tasks": {"tasks", "task", "WT"},
	"Reservations": {"reservations", "reservation", "WR"}, "Flows": {"flows", "flow", "FW"},
	"OutgoingCallerIds": {"outgoing_caller_ids", "outgoing_caller_id", "PN"},
}

// implicit are the kinds whose items exist without the fake having created them: the calls,
// tasks and reservations a test's events speak of. An update of an unknown one succeeds.
var implicit = map[string]bool{"Calls": true, "Tasks": true, "Reservations": true}

// Op names the REST operation of a request: create_call, update_call, fetch_call, list_calls,
// update_reservation, update_task, list_workflows, list_activities, create_flow, delete_flow,
// update_incoming_phone_number, … ("" for a path the fake does not know).
func Op(method, path string) string {
	coll, sid, k := split(path)
	if coll == "" {
		return ""
	}
	verb := map[string]string{http.MethodGet: "fetch", http.MethodPost: "update", http.MethodDelete: "delete"}[method]
	if sid == "" {
		verb = map[string]string{http.MethodGet: "list", http.MethodPost: "create"}[method]
		if verb == "list" {
			return "list_" + k.key
		}
	}
	if verb == "" {
		return ""
	}
	return verb + "_" + k.one
}

// split parses a path into its collection, the item's SID ("" for the collection) and kind.
func split(path string) (coll, sid string, k kind) {
	path = strings.TrimSuffix(path, ".json")
	segs := strings.Split(strings.Trim(path, "/"), "/")
	last := segs[len(segs)-1]
	if k, ok := kinds[last]; ok {
		return path, "", k
	}
	if len(segs) < 2 {
		return "", "", kind{}
	}
	k, ok := kinds[segs[len(segs)-2]]
	if !ok {
		return "", "", kind{}
	}
	return strings.TrimSuffix(path, "/"+last), last, k
}

// serveStore answers from the fake's resources.
func (tw *Twilio) serveStore(w http.ResponseWriter, req *Request) {
	coll, sid, k := split(req.Path)
	tw.mu.Lock()
	defer tw.mu.Unlock()
	switch {
	case coll == "":
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+req.Path+" was not found", true)
	case sid == "" && req.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, tw.page(coll, k, req))
	case sid == "" && req.Method == http.MethodPost:
		writeJSON(w, http.StatusCreated, tw.create(coll, k, req))
	default:
		tw.serveItem(w, coll, sid, req)
	}
}

// serveItem fetches, updates or deletes one resource.
func (tw *Twilio) serveItem(w http.ResponseWriter, coll, sid string, req *Request) {
	i := tw.index(coll, sid)
	_, kindName := lastSeg(coll)
	switch {
	case req.Method == http.MethodPost && i < 0 && implicit[kindName]:
		it := tw.stamp(coll, map[string]any{"sid": sid})
		setForm(it, req)
		if !tw.opts.Lean {
			tw.items[coll] = append(tw.items[coll], it)
		}
		writeJSON(w, http.StatusOK, it)
	case i < 0:
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+req.Path+" was not found", true)
	case req.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, tw.items[coll][i])
	case req.Method == http.MethodPost:
		it := tw.items[coll][i]
		update(it, kindName, req)
		it["date_updated"] = tw.now(coll)
		writeJSON(w, http.StatusOK, it)
	case req.Method == http.MethodDelete:
		tw.items[coll] = append(tw.items[coll][:i:i], tw.items[coll][i+1:]...)
		for p := range tw.items {
			if strings.HasPrefix(p, coll+"/"+sid+"/") {
				delete(tw.items, p)
			}
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		writeError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed", true)
	}
}

// update applies a POST to a resource, with Twilio's rule for calls: Status=canceled "will
// attempt to hang up calls that are queued or ringing; however, it will not affect calls already
// in progress" (Calls resource, Status parameter): the answer is the call, unchanged.
func update(it map[string]any, kindName string, req *Request) {
	if kindName == "Calls" && req.Form.Get("Status") == "canceled" && it["status"] == "in-progress" {
		form := *req
		form.Form = maps.Clone(req.Form)
		form.Form.Del("Status")
		setForm(it, &form)
		return
	}
	setForm(it, req)
}

func lastSeg(path string) (rest, last string) {
	i := strings.LastIndex(path, "/")
	return path[:i], path[i+1:]
}

func (tw *Twilio) index(coll, sid string) int {
	for i, it := range tw.items[coll] {
		if it["sid"] == sid {
			return i
		}
	}
	return -1
}
