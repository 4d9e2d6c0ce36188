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

// The machinery under the resources' handlers (handlers.go). A handler runs under the engine
// lock as steps on a call: the first step that fails keeps Twilio's error and every later step
// does nothing, so a handler reads as what Twilio checks, in Twilio's order, and the request is
// answered that first error.

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
	status  int
	body    map[string]any
	etag    string
	listKey string
	items   []map[string]any
}

func ok(body map[string]any) *reply      { return &reply{status: http.StatusOK, body: body} }
func created(body map[string]any) *reply { return &reply{status: http.StatusCreated, body: body} }
func noContent() *reply                  { return &reply{status: http.StatusNoContent} }
func list(key string, items []map[string]any) *reply {
	return &reply{status: http.StatusOK, listKey: key, items: items}
}

// serve decodes the form, finds the path's workspace, runs fn under the lock, and writes the
// answer once the lock is released.
func (e *Engine) serve(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			twilioapi.WriteError(w, twilioapi.Errorf(http.StatusBadRequest, 20001, "Malformed request body: %v", err))
			return
		}
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		c := &call{e: e, r: r, base: scheme + "://" + r.Host}
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

// Form parameters. Twilio's parameters are case-sensitive form fields.

// value is a form parameter as its parseFunc understood it.
type value struct {
	s     string // as given, or the default put in its place
	n     int    // integer parameters
	b     bool   // boolean parameters
	x     any    // what parsing built: attributes, an expression, a routing configuration
	given bool
}

// parseFunc checks one parameter and answers Twilio's error, which names it, when it is bad.
type parseFunc func(c *call, name, s string) (value, error)

// param is one row of a resource's parameter table: apply stores what parse (nil: any string)
// accepted.
type param[P any] struct {
	name  string
	parse parseFunc
	apply func(x P, v value)
}

func (c *call) param(name string, parse parseFunc) value {
	vs := c.r.PostForm[name]
	if c.err != nil || len(vs) == 0 {
		return value{}
	}
	v := value{s: vs[0]}
	if parse != nil {
		var err error
		if v, err = parse(c, name, vs[0]); err != nil {
			c.fail(err)
			return value{}
		}
	}
	v.given = true
	return v
}

// apply checks every given parameter of the table, in its order, before it applies any: a
// request with a bad one changes nothing and is answered the first.
func apply[P any](c *call, x P, params []param[P]) {
	var given []func()
	for _, p := range params {
		if v := c.param(p.name, p.parse); v.given {
			given = append(given, func() { p.apply(x, v) })
		}
	}
	for _, f := range given {
		if c.err == nil { // a later parameter may have failed
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
	return func(c *call, name, s string) (value, error) {
		return parse(c, name, cmp.Or(s, def))
	}
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

func queryBool(q url.Values, name string) (value, given bool) {
	s := q.Get(name)
	return s != "" && (strings.EqualFold(s, "true") || s == "1"), s != ""
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

// Resources.

// kind describes a resource that lives in a workspace, for the handlers every one of them has.
type kind[P recorded] struct {
	name   string // the collection in Twilio's paths, as its 404s name it: "TaskQueues"
	key    string // the collection's key in a list answer: "task_queues"
	param  string // the path parameter that names one: "sid", "ws" for workspaces
	all    func(e *Engine) map[string]P
	render func(e *Engine, base string, x P) map[string]any
	etag   bool // versioned: answers carry an ETag and writes honour If-Match
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

// one finds the resource the path names in {param}, within the path's workspace.
func one[P recorded](c *call, k *kind[P], param string) P {
	var x P
	if c.err != nil {
		return x
	}
	sid := c.r.PathValue(param)
	x, found := k.all(c.e)[sid]
	if !found || x.rec().wsSid != c.ws.sid {
		c.fail(twilioapi.NotFound(k.name, sid))
	}
	return x
}

func (k *kind[P]) answer(c *call, status func(map[string]any) *reply, x P) *reply {
	if c.err != nil {
		return nil
	}
	rp := status(k.render(c.e, c.base, x))
	if k.etag {
		rp.etag = strconv.Itoa(x.rec().version)
	}
	return rp
}

func fetch[P recorded](k *kind[P]) handlerFunc {
	return func(c *call) *reply { return k.answer(c, ok, one(c, k, k.param)) }
}

// listed answers the items of kind k in the path's workspace (every one when the path names
// none) that keep accepts, oldest first.
func listed[P recorded](c *call, k *kind[P], keep func(P) bool) *reply {
	ws := ""
	if c.ws != nil {
		ws = c.ws.sid
	}
	return listOf(c, k.key, inOrder(k.all(c.e), ws), keep, func(x P) map[string]any { return k.render(c.e, c.base, x) })
}

func listOf[T any](c *call, key string, all []T, keep func(T) bool, render func(T) map[string]any) *reply {
	rp := list(key, nil)
	for _, x := range all {
		if c.err == nil && keep(x) {
			rp.items = append(rp.items, render(x))
		}
	}
	return rp
}

// create stores x, a new resource of kind k, once the table's parameters are applied to it.
func create[P recorded](c *call, k *kind[P], x P, params []param[P]) *reply {
	if apply(c, x, params); c.err != nil {
		return nil
	}
	k.all(c.e)[x.rec().sid] = x
	return k.answer(c, created, x)
}

// update applies the table's parameters to the resource the path names; after, if any, lets
// the engine act on the change.
func update[P recorded](k *kind[P], params []param[P], after func(c *call, x P)) handlerFunc {
	return func(c *call) *reply {
		x := one(c, k, k.param)
		apply(c, x, params)
		if c.err != nil {
			return nil
		}
		x.rec().updated = c.e.now()
		if after != nil {
			after(c, x)
		}
		return k.answer(c, ok, x)
	}
}

// remove deletes the resource the path names unless refuse, Twilio's rule for the kind, objects.
func remove[P recorded](k *kind[P], refuse func(c *call, x P) error) handlerFunc {
	return func(c *call) *reply {
		x := one(c, k, k.param)
		if k.etag {
			c.ifMatch(x)
		}
		if c.err == nil {
			c.fail(refuse(c, x))
		}
		if c.err != nil {
			return nil
		}
		delete(k.all(c.e), x.rec().sid)
		return noContent()
	}
}
