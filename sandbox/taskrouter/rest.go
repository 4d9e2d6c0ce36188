package taskrouter

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"queuebridge/sandbox/internal/twilioapi"
)

// The machinery under the resources' tables (handlers.go). A handler runs under the engine
// lock as steps on a call: the first step that fails keeps Twilio's error and every later step
// does nothing, so the request is answered the first error in Twilio's order of checks.

// call is one REST request being served.
type call struct {
	e    *Engine
	r    *http.Request
	base string     // scheme://host of the request: answers' URLs point back at the sandbox
	ws   *workspace // the workspace the path names, if it names one
	err  error
}

func (c *call) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

// handlerFunc does a request's work and says what to answer; c.err, once set, wins.
type handlerFunc func(c *call) *reply

type reply struct {
	status        int
	body          map[string]any
	etag, listKey string
	items         []map[string]any
}

// serve decodes the form, finds the path's workspace, runs fn under the lock, and writes the
// answer once the lock is released.
func (e *Engine) serve(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			twilioapi.WriteError(w, twilioapi.Errorf(http.StatusBadRequest, 20001, "Malformed request body: %v", err))
			return
		}
		c := &call{e: e, r: r, base: "http://" + r.Host}
		if r.TLS != nil {
			c.base = "https://" + r.Host
		}
		e.mu.Lock()
		if sid := r.PathValue("ws"); sid != "" {
			if c.ws = e.workspaces[sid]; c.ws == nil {
				c.fail(twilioapi.NotFound("Workspaces", sid))
			}
		}
		var rp *reply
		if c.err == nil {
			rp = fn(c)
		}
		e.unlock()
		switch {
		case c.err != nil:
			twilioapi.WriteError(w, c.err)
		case rp.status == http.StatusNoContent:
			w.WriteHeader(http.StatusNoContent)
		case rp.listKey != "":
			twilioapi.V1List(w, r, rp.listKey, rp.items)
		default:
			if rp.etag != "" {
				w.Header().Set("ETag", rp.etag)
			}
			twilioapi.WriteJSON(w, rp.status, rp.body)
		}
	})
}

// Form parameters, case-sensitive form fields as in Twilio.

// value is a form parameter as its parseFunc understood it: s as given (or the default put in
// its place), n and b for integers and booleans, x what parsing built.
type value struct {
	s     string
	n     int
	b     bool
	x     any
	given bool
}

// parseFunc checks one parameter and answers Twilio's error, which names it, when it is bad.
type parseFunc func(c *call, name, s string) (value, error)

// param is one row of a parameter table: apply (nil: only checked) stores what parse (nil: any
// string) accepted.
type param[P any] struct {
	name  string
	parse parseFunc
	apply func(c *call, x P, v value)
}

func (c *call) param(name string, parse parseFunc) value {
	vs := c.r.PostForm[name]
	if c.err != nil || len(vs) == 0 {
		return value{}
	}
	v, err := value{s: vs[0]}, error(nil)
	if parse != nil {
		v, err = parse(c, name, vs[0])
		c.fail(err)
	}
	v.given = err == nil
	return v
}

func (c *call) has(name string) bool { return len(c.r.PostForm[name]) > 0 }

// check checks every given parameter of the table, in its order, and returns what applies
// them: a request with a bad one changes nothing and is answered the first.
func check[P any](c *call, x P, params []param[P]) (apply func()) {
	var given []func()
	for _, p := range params {
		if v := c.param(p.name, p.parse); v.given && p.apply != nil {
			given = append(given, func() { p.apply(c, x, v) })
		}
	}
	return func() {
		for _, f := range given {
			f()
		}
	}
}

// required is Twilio's error for parameters a create cannot do without (empty counts as absent).
func (c *call) required(names ...string) {
	for _, name := range names {
		if c.r.PostForm.Get(name) == "" {
			c.fail(twilioapi.MissingParam(name))
		}
	}
}

// valid answers v when ok holds, else Twilio's error for a bad value of the parameter.
func valid(ok bool, name, s string, v value) (value, error) {
	if !ok {
		return value{}, twilioapi.InvalidParam(name, s)
	}
	return v, nil
}

func boolean(_ *call, name, s string) (value, error) {
	lower := strings.ToLower(s)
	yes := lower == "true" || lower == "1" || lower == "yes"
	return valid(yes || lower == "false" || lower == "0" || lower == "no", name, s, value{s: s, b: yes})
}

func integer(lo, hi int) parseFunc {
	return func(_ *call, name, s string) (value, error) {
		n, err := strconv.Atoi(s)
		return valid(err == nil && n >= lo && n <= hi, name, s, value{s: s, n: n})
	}
}

func oneOf(allowed ...string) parseFunc {
	return func(_ *call, name, s string) (value, error) {
		return valid(slices.Contains(allowed, s), name, s, value{s: s})
	}
}

// emptyAs reads an empty value as def.
func emptyAs(def string, parse parseFunc) parseFunc {
	return func(c *call, name, s string) (value, error) { return parse(c, name, cmp.Or(s, def)) }
}

// optional lets an empty value through unchecked: it clears the field.
func optional(parse parseFunc) parseFunc {
	return func(c *call, name, s string) (value, error) {
		if s == "" {
			return value{}, nil
		}
		return parse(c, name, s)
	}
}

// callbackURL accepts an absolute http(s) URL, or nothing.
func callbackURL(_ *call, name, s string) (value, error) {
	u, err := url.Parse(s)
	return valid(s == "" || (err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""), name, s, value{s: s})
}

// activityIn accepts the SID of one of the workspace's activities.
func activityIn(c *call, name, s string) (value, error) {
	a := c.e.activities[s]
	return valid(a != nil && a.wsSid == c.ws.sid, name, s, value{s: s})
}

// attributes accepts a JSON object, as Twilio requires of Attributes.
func attributes(_ *call, name, s string) (value, error) {
	attrs, ok := parseAttributes(s)
	return valid(ok, name, s, value{s: s, x: attrs})
}

// ifMatch compares If-Match with the resource's ETag: 412 on mismatch.
func (c *call) ifMatch(x recorded) {
	if c.err != nil {
		return
	}
	want, version := strings.Trim(c.r.Header.Get("If-Match"), `"`), x.rec().version
	if want != "" && want != "*" && want != strconv.Itoa(version) {
		// Twilio's codes mirror the HTTP status for generic errors (20403, 20404, 20429): 20412.
		c.fail(twilioapi.Errorf(http.StatusPreconditionFailed, 20412, "Precondition Failed: If-Match %q does not match the current ETag %d", want, version))
	}
}

// List filters. A listFilter reads its query parameters and answers what an item must satisfy
// to be listed: nil when the query does not ask, never when nothing can.
type listFilter[P any] func(c *call) func(P) bool

func never[P any](P) bool { return false }

// eq lists the items whose get equals the parameter; is, those whose get is the parameter
// ("true" or "1" is true); matching, those for which the parameter's expression holds.
func eq[P any](name string, get func(e *Engine, x P) string) listFilter[P] {
	return func(c *call) func(P) bool {
		if want := c.r.URL.Query().Get(name); want != "" {
			return func(x P) bool { return get(c.e, x) == want }
		}
		return nil
	}
}

func is[P any](name string, get func(e *Engine, x P) bool) listFilter[P] {
	return func(c *call) func(P) bool {
		if s := c.r.URL.Query().Get(name); s != "" {
			return func(x P) bool { return get(c.e, x) == (strings.EqualFold(s, "true") || s == "1") }
		}
		return nil
	}
}

func matching[P any](name string, env func(e *Engine, x P) *exprEnv) listFilter[P] {
	return func(c *call) func(P) bool {
		s := c.r.URL.Query().Get(name)
		if s == "" {
			return nil
		}
		x, err := parseExpr(s)
		if err != nil {
			c.fail(twilioapi.Errorf(http.StatusBadRequest, 20001, "Invalid %s: %v", name, err))
			return func(P) bool { return false }
		}
		return func(it P) bool { return x.eval(env(c.e, it)) }
	}
}

// Resources.

// kind is a resource that lives in a workspace: its tables, and hooks where Twilio does more
// than store parameters. Its routes are the generic handlers below.
type kind[P recorded] struct {
	name, key string // the collection in Twilio's paths ("TaskQueues") and in a list ("task_queues")
	param     string // the path parameter that names one: "sid", "ws" for workspaces
	all       func(e *Engine) map[string]P
	render    func(e *Engine, base string, x P) map[string]any
	etag      bool                       // versioned: answers carry an ETag and writes honour If-Match
	touch     bool                       // an update moves date_updated (else rows that change something do)
	scope     func(c *call) func(P) bool // a subresource's: the items of the parent the path names
	filters   []listFilter[P]            // the list's query parameters
	desc      bool                       // the list honours Ordering=DateCreated:desc

	create       func(c *call) P // checks and makes a new one with Twilio's defaults (nil: no create)
	createParams []param[P]
	created      func(c *call, x P)
	params       []param[P] // an update's, in Twilio's order of checks
	check        func(c *call, x P) error
	updated      func(c *call, x P)
	refuse       func(c *call, x P) error // Twilio's rule against a delete (with deleted nil too: no delete)
	deleted      func(c *call, x P)
}

// routes registers the collection at path and its members at path/{param}.
func (k *kind[P]) routes(route func(string, handlerFunc), path string) {
	one := path + "/{" + k.param + "}"
	route("GET "+path, k.list)
	route("GET "+one, func(c *call) *reply { return k.answer(c, http.StatusOK, k.one(c)) })
	route("POST "+one, k.update)
	if k.create != nil {
		route("POST "+path, k.add)
	}
	if k.refuse != nil || k.deleted != nil {
		route("DELETE "+one, k.remove)
	}
}

// inOrder returns the items of m that belong to ws (all of them when ws is ""), oldest first.
func inOrder[P recorded](m map[string]P, ws string) []P {
	var out []P
	for _, x := range m {
		if ws == "" || x.rec().wsSid == ws {
			out = append(out, x)
		}
	}
	slices.SortFunc(out, func(a, b P) int { return cmp.Compare(a.rec().seq, b.rec().seq) })
	return out
}

// one finds the resource the path names, within the path's workspace (and parent).
func (k *kind[P]) one(c *call) P {
	in := k.in(c)
	sid := c.r.PathValue(k.param)
	x, found := k.all(c.e)[sid]
	if c.err == nil && (!found || x.rec().wsSid != c.ws.sid || !in(x)) {
		c.fail(twilioapi.NotFound(k.name, sid))
	}
	return x
}

// in tells the items of the parent the path names (all, for a kind without a parent).
func (k *kind[P]) in(c *call) func(P) bool {
	if k.scope == nil {
		return func(P) bool { return true }
	}
	return k.scope(c)
}

func (k *kind[P]) answer(c *call, status int, x P) *reply {
	if c.err != nil {
		return nil
	}
	rp := &reply{status: status, body: k.render(c.e, c.base, x)}
	if k.etag {
		rp.etag = strconv.Itoa(x.rec().version)
	}
	return rp
}

// list answers the items in the path's workspace (every one when the path names none) that
// pass every filter, oldest first.
func (k *kind[P]) list(c *call) *reply {
	keep := []func(P) bool{k.in(c)}
	for _, f := range k.filters {
		if f := f(c); f != nil {
			keep = append(keep, f)
		}
	}
	rp := &reply{status: http.StatusOK, listKey: k.key}
	for _, x := range inOrder(k.all(c.e), cmp.Or(c.ws, &workspace{}).sid) {
		if c.err == nil && !slices.ContainsFunc(keep, func(f func(P) bool) bool { return !f(x) }) {
			rp.items = append(rp.items, k.render(c.e, c.base, x))
		}
	}
	if k.desc && strings.HasPrefix(c.r.URL.Query().Get("Ordering"), "DateCreated:desc") {
		slices.Reverse(rp.items)
	}
	return rp
}

// add and update apply the table's parameters to a new resource or to the one the path
// names, once they and the kind's check have passed, then let the engine act on the change.
func (k *kind[P]) add(c *call) *reply    { return k.write(c, k.create(c), true) }
func (k *kind[P]) update(c *call) *reply { return k.write(c, k.one(c), false) }

func (k *kind[P]) write(c *call, x P, isNew bool) *reply {
	params, status, after := k.params, http.StatusOK, k.updated
	if isNew {
		params, status, after = k.createParams, http.StatusCreated, k.created
	} else if k.etag {
		c.ifMatch(x)
	}
	apply := check(c, x, params)
	if c.err == nil && k.check != nil && !isNew {
		c.fail(k.check(c, x))
	}
	if c.err != nil {
		return nil
	}
	if apply(); isNew {
		k.all(c.e)[x.rec().sid] = x
	} else if k.touch {
		x.rec().updated = c.e.now()
	}
	if after != nil {
		after(c, x)
	}
	return k.answer(c, status, x)
}

// remove deletes the resource the path names unless refuse objects.
func (k *kind[P]) remove(c *call) *reply {
	x := k.one(c)
	if k.etag {
		c.ifMatch(x)
	}
	if c.err == nil && k.refuse != nil {
		c.fail(k.refuse(c, x))
	}
	if c.err != nil {
		return nil
	}
	delete(k.all(c.e), x.rec().sid)
	if k.deleted != nil {
		k.deleted(c, x)
	}
	return &reply{status: http.StatusNoContent}
}
