package testkit

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// create makes a resource from the request's form (CamelCase keys become snake_case fields).
func (tw *Twilio) create(coll string, k kind, req *Request) map[string]any {
	sid := SID(k.prefix)
	it := tw.stamp(coll, map[string]any{"sid": sid})
	setForm(it, req)
	switch k.prefix {
	case "CA":
		it["status"], it["direction"], it["api_version"] = "queued", "outbound-api", "2010-04-01"
		it["uri"] = coll + "/" + sid + ".json"
	case "FW":
		it["revision"], it["valid"], it["errors"], it["warnings"] = 1, true, []any{}, []any{}
		it["webhook_url"] = "https://webhooks.twilio.com/v1/Accounts/" + it["account_sid"].(string) + "/Flows/" + sid
		it["url"] = "https://studio.twilio.com/v2/Flows/" + sid
	case "WS":
		for _, a := range []struct {
			name      string
			available bool
		}{{"Offline", false}, {"Available", true}, {"Unavailable", false}} {
			acts := coll + "/" + sid + "/Activities"
			tw.items[acts] = append(tw.items[acts], tw.stamp(acts, map[string]any{"sid": SID("WA"), "friendly_name": a.name, "available": a.available}))
		}
	}
	if _, name := lastSeg(coll); !tw.opts.Lean || !implicit[name] {
		tw.items[coll] = append(tw.items[coll], it)
	}
	return it
}

// stamp adds the fields every resource has: its account and dates.
func (tw *Twilio) stamp(coll string, it map[string]any) map[string]any {
	account := tw.opts.Account
	if rest, ok := strings.CutPrefix(coll, "/2010-04-01/Accounts/"); ok {
		account, _, _ = strings.Cut(rest, "/")
	}
	it["account_sid"] = account
	it["date_created"], it["date_updated"] = tw.now(coll), tw.now(coll)
	return it
}

// now is the time in the API's format: RFC 1123 in the 2010 API, ISO 8601 elsewhere.
func (tw *Twilio) now(coll string) string {
	if strings.HasPrefix(coll, "/2010-04-01/") {
		return time.Now().UTC().Format(time.RFC1123Z)
	}
	return time.Now().UTC().Format("2006-01-02T15:04:05Z")
}

func setForm(it map[string]any, req *Request) {
	for k := range req.Form {
		it[snake(k)] = typed(snake(k), req.Form.Get(k))
	}
}

// page is a list answer: the resources matching the query's filters (FriendlyName=…,
// PhoneNumber=…, To=…), in the 2010 API's page shape or the newer APIs' meta shape.
func (tw *Twilio) page(coll string, k kind, req *Request) map[string]any {
	list := []map[string]any{}
	for _, it := range tw.items[coll] {
		if matches(it, req) {
			list = append(list, it)
		}
	}
	if strings.HasPrefix(coll, "/2010-04-01/") {
		return map[string]any{k.key: list, "page": 0, "page_size": 50, "start": 0, "end": len(list),
			"uri": req.Path, "first_page_uri": req.Path, "previous_page_uri": nil, "next_page_uri": nil}
	}
	return map[string]any{k.key: list, "meta": map[string]any{"page": 0, "page_size": 50, "key": k.key,
		"url": req.Path, "first_page_url": req.Path, "previous_page_url": nil, "next_page_url": nil}}
}

// matches applies the query's equality filters; paging parameters and ranges (StartTime>) are
// not filters here.
func matches(it map[string]any, req *Request) bool {
	for k := range req.Query {
		if k == "Page" || k == "PageSize" || k == "PageToken" || strings.ContainsAny(k, "<>") {
			continue
		}
		if fmt.Sprint(it[snake(k)]) != req.Query.Get(k) {
			return false
		}
	}
	return true
}

func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// typed gives the fields Twilio answers as numbers, booleans or JSON their type.
func typed(field, v string) any {
	switch field {
	case "available", "multi_task_enabled":
		return v == "true"
	case "max_reserved_workers", "task_reservation_timeout", "timeout":
		n, _ := strconv.Atoi(v)
		return n
	case "definition":
		var d any
		_ = json.Unmarshal([]byte(v), &d)
		return d
	}
	return v
}

// Add puts a resource into a collection (e.g. "/v1/Workspaces/WS…/Workflows") as if created
// before the test, and returns it. fields are its JSON fields; "sid" is minted unless given. A
// resource with the given sid already there gets the fields instead: what happened to it at
// Twilio behind the bridge's back (a call answered, say).
func (tw *Twilio) Add(collection string, fields map[string]any) map[string]any {
	coll, _, k := split(collection)
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if sid, ok := fields["sid"].(string); ok {
		if i := tw.index(coll, sid); i >= 0 {
			maps.Copy(tw.items[coll][i], fields)
			return maps.Clone(tw.items[coll][i])
		}
	}
	it := tw.stamp(coll, map[string]any{"sid": SID(k.prefix)})
	maps.Copy(it, fields)
	tw.items[coll] = append(tw.items[coll], it)
	return maps.Clone(it)
}

// Find returns (copies of) the resources whose field equals value, in every collection whose
// path ends with suffix ("/Workers", "/v2/Flows").
func (tw *Twilio) Find(suffix, field, value string) []map[string]any {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	var out []map[string]any
	for _, coll := range slices.Sorted(maps.Keys(tw.items)) {
		if !strings.HasSuffix(coll, strings.TrimSuffix(suffix, ".json")) {
			continue
		}
		for _, it := range tw.items[coll] {
			if fmt.Sprint(it[field]) == value {
				out = append(out, maps.Clone(it))
			}
		}
	}
	return out
}

// Requests returns the requests received, oldest first: all of them, or those of the operations.
func (tw *Twilio) Requests(ops ...string) []Request {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	var out []Request
	for _, r := range tw.requests {
		if len(ops) == 0 || slices.Contains(ops, r.Op) {
			out = append(out, *r)
		}
	}
	return out
}

// Writes returns the requests that could change something (all but GET), oldest first.
func (tw *Twilio) Writes() []Request {
	var out []Request
	for _, r := range tw.Requests() {
		if r.Method != http.MethodGet {
			out = append(out, r)
		}
	}
	return out
}

// Forget drops the requests recorded so far (resources stay).
func (tw *Twilio) Forget() {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.requests = nil
}

// Lines are the requests as "METHOD /path", for comparing sequences.
func Lines(reqs []Request) []string {
	out := make([]string, len(reqs))
	for i, r := range reqs {
		out[i] = r.String()
	}
	return out
}
