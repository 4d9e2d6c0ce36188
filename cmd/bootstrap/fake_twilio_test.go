package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode"
)

const (
	testAccount = "AC0123456789abcdef0123456789abcdef"
	testToken   = "0123456789abcdef0123456789abcdef"
)

// httpTwilio is a tiny stateful stand-in for the REST resources bootstrap touches, reached by
// the real twilio-go client through TWILIO_API_URL. It is generic: a POST to a collection
// creates a resource from the form (CamelCase keys become snake_case JSON fields), a POST to an
// item updates it, GET lists or fetches, DELETE deletes (with everything under it). The real
// behavioural fake is the sandbox; this is only enough to drive run() end to end.
type httpTwilio struct {
	mu     sync.Mutex
	seq    int
	items  map[string][]map[string]any // collection path → resources, in creation order
	writes []string                    // "POST /v1/Workspaces", …
	reads  int
	users  map[string]bool // basic-auth usernames seen
	// failOn makes requests "METHOD /path" answer a Twilio error.
	failOn string
	srv    *httptest.Server
}

func newHTTPTwilio(t *testing.T) *httpTwilio {
	t.Helper()
	f := &httpTwilio{items: map[string][]map[string]any{}}
	numbers := "/2010-04-01/Accounts/" + testAccount + "/IncomingPhoneNumbers"
	f.items[numbers] = []map[string]any{{
		"sid": "PN0123456789abcdef0123456789abcdef", "account_sid": testAccount, "phone_number": "+15005550006",
		"friendly_name": "(500) 555-0006", "voice_url": "", "voice_method": "POST", "voice_application_sid": "",
	}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *httpTwilio) Writes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.writes...)
}

func (f *httpTwilio) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads + len(f.writes)
}

func (f *httpTwilio) ResetWrites() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = nil
}

// find returns the resources of a collection whose field equals value.
func (f *httpTwilio) find(collection, field, value string) []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []map[string]any
	for _, it := range f.items[collection] {
		if fmt.Sprint(it[field]) == value {
			out = append(out, it)
		}
	}
	return out
}

var collectionKeys = map[string]struct{ key, prefix string }{
	"Workspaces": {"workspaces", "WS"}, "Activities": {"activities", "WA"}, "TaskQueues": {"task_queues", "WQ"},
	"Workers": {"workers", "WK"}, "Workflows": {"workflows", "WW"}, "Flows": {"flows", "FW"},
	"IncomingPhoneNumbers": {"incoming_phone_numbers", "PN"},
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

func typed(field, v string) any {
	switch field {
	case "available", "multi_task_enabled":
		return v == "true"
	case "max_reserved_workers", "task_reservation_timeout":
		n, _ := strconv.Atoi(v)
		return n
	case "definition":
		var d any
		_ = json.Unmarshal([]byte(v), &d)
		return d
	}
	return v
}

func (f *httpTwilio) fail(w http.ResponseWriter, status, code int, msg string) {
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"code":%d,"message":%q,"more_info":"https://www.twilio.com/docs/errors/%d","status":%d}`, code, msg, code, status)
}

func (f *httpTwilio) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	w.Header().Set("Content-Type", "application/json")
	path := strings.TrimSuffix(r.URL.Path, ".json")
	segs := strings.Split(strings.Trim(path, "/"), "/")
	last := segs[len(segs)-1]

	f.mu.Lock()
	defer f.mu.Unlock()
	if user, _, ok := r.BasicAuth(); ok {
		if f.users == nil {
			f.users = map[string]bool{}
		}
		f.users[user] = true
	}
	if r.Method != http.MethodGet {
		f.writes = append(f.writes, r.Method+" "+r.URL.Path)
	} else {
		f.reads++
	}
	if f.failOn == r.Method+" "+r.URL.Path {
		f.fail(w, http.StatusBadRequest, 20001, "Invalid parameter")
		return
	}
	if ck, ok := collectionKeys[last]; ok {
		switch r.Method {
		case http.MethodGet:
			var list []map[string]any
			for _, it := range f.items[path] {
				if fn := r.URL.Query().Get("FriendlyName"); fn != "" && it["friendly_name"] != fn {
					continue
				}
				if pn := r.URL.Query().Get("PhoneNumber"); pn != "" && it["phone_number"] != pn {
					continue
				}
				list = append(list, it)
			}
			if list == nil {
				list = []map[string]any{}
			}
			page := map[string]any{ck.key: list}
			if strings.HasPrefix(path, "/2010-04-01") {
				page["next_page_uri"], page["page"], page["page_size"] = nil, 0, 50
			} else {
				page["meta"] = map[string]any{"page": 0, "page_size": 50, "next_page_url": nil, "key": ck.key}
			}
			_ = json.NewEncoder(w).Encode(page)
		case http.MethodPost:
			f.seq++
			sid := fmt.Sprintf("%s%032d", ck.prefix, f.seq)
			it := map[string]any{"sid": sid, "account_sid": testAccount, "date_created": "2026-11-22T02:00:00Z", "date_updated": "2026-11-22T02:00:00Z"}
			for k := range form {
				it[snake(k)] = typed(snake(k), form.Get(k))
			}
			switch ck.prefix {
			case "FW":
				it["revision"], it["valid"] = 1, true
				it["webhook_url"] = "https://webhooks.twilio.com/v1/Accounts/" + testAccount + "/Flows/" + sid
			case "WS":
				for _, a := range []struct {
					name      string
					available bool
				}{{"Offline", false}, {"Available", true}, {"Unavailable", false}} {
					f.seq++
					f.items[path+"/"+sid+"/Activities"] = append(f.items[path+"/"+sid+"/Activities"],
						map[string]any{"sid": fmt.Sprintf("WA%032d", f.seq), "friendly_name": a.name, "available": a.available})
				}
			}
			f.items[path] = append(f.items[path], it)
			w.WriteHeader(http.StatusCreated)
			_ = json.NewEncoder(w).Encode(it)
		default:
			f.fail(w, http.StatusMethodNotAllowed, 20004, "Method not allowed")
		}
		return
	}

	collection := strings.TrimSuffix(path, "/"+last)
	for i, it := range f.items[collection] {
		if it["sid"] != last {
			continue
		}
		switch r.Method {
		case http.MethodGet:
			_ = json.NewEncoder(w).Encode(it)
		case http.MethodPost:
			for k := range form {
				it[snake(k)] = typed(snake(k), form.Get(k))
			}
			_ = json.NewEncoder(w).Encode(it)
		case http.MethodDelete:
			f.items[collection] = append(f.items[collection][:i], f.items[collection][i+1:]...)
			for p := range f.items {
				if strings.HasPrefix(p, path+"/") {
					delete(f.items, p)
				}
			}
			w.WriteHeader(http.StatusNoContent)
		}
		return
	}
	f.fail(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
}
