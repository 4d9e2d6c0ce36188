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

// The REST machinery the resources' handlers (handlers.go) are built on: a handler runs under
// the engine lock and says what to answer; form parameters are described by tables of params;
// the lookups, fetches, lists and deletes every resource has are written once, per kind.

// handlerFunc does a request's work under the engine lock and says what to answer.
type handlerFunc func(r *http.Request, base string) (*reply, error)

type reply struct {
	status  int
	body    any
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

func (rp *reply) withETag(version int) *reply {
	rp.etag = strconv.Itoa(version)
	return rp
}

// serve decodes the form, runs fn under the lock, and writes the answer once it is released.
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
		e.mu.Lock()
		rp, err := fn(r, scheme+"://"+r.Host)
		e.unlock()
		if err != nil {
			twilioapi.WriteError(w, err)
			return
		}
		if rp.etag != "" {
			w.Header().Set("ETag", rp.etag)
		}
		switch {
		case rp.status == http.StatusNoContent:
			w.WriteHeader(http.StatusNoContent)
		case rp.listKey != "":
			twilioapi.V1List(w, r, rp.listKey, rp.items)
		default:
			twilioapi.WriteJSON(w, rp.status, rp.body)
		}
	})
}

// Form parameters. Twilio's parameters are case-sensitive form fields.

// value is a form parameter as its parseFunc understood it.
type value struct {
	s string // as given (or the default put in its place)
	n int    // integer parameters
	b bool   // boolean parameters
	x any    // what parsing built: attributes, an expression, a routing configuration
}

// parseFunc checks one parameter's value and answers Twilio's error, naming the parameter, when it
// is bad. ws is the workspace the request is about (nil when it creates one).
type parseFunc func(e *Engine, ws *workspace, name, s string) (value, error)

// param is one row of a resource's parameter table: apply stores a value parse accepted (no
// parse: any string).
type param[P any] struct {
	name  string
	parse parseFunc
	apply func(x P, v value)
}

func formValue(e *Engine, r *http.Request, ws *workspace, name string, parse parseFunc) (v value, given bool, err error) {
	vs, given := r.PostForm[name]
	if !given || len(vs) == 0 {
		return value{}, false, nil
	}
	if parse == nil {
		return value{s: vs[0]}, true, nil
	}
	v, err = parse(e, ws, name, vs[0])
	return v, true, err
}

// applyParams checks every given parameter in the table's order before it applies any, so a
// request with a bad one changes nothing and names the first bad one.
func applyParams[P any](e *Engine, r *http.Request, ws *workspace, x P, params []param[P]) error {
	var apply []func()
	for _, p := range params {
		v, given, err := formValue(e, r, ws, p.name, p.parse)
		if err != nil {
			return err
		}
		if given {
			apply = append(apply, func() { p.apply(x, v) })
		}
	}
	for _, f := range apply {
		f()
	}
	return nil
}

// required is Twilio's error for a parameter a create cannot do without (empty counts as absent).
func required(r *http.Request, names ...string) error {
	for _, name := range names {
		if r.PostForm.Get(name) == "" {
			return twilioapi.MissingParam(name)
		}
	}
	return nil
}

func boolean(_ *Engine, _ *workspace, name, s string) (value, error) {
	switch strings.ToLower(s) {
	case "true", "1", "yes":
		return value{s: s, b: true}, nil
	case "false", "0", "no":
		return value{s: s}, nil
	}
	return value{}, twilioapi.InvalidParam(name, s)
}

func integer(lo, hi int) parseFunc {
	return func(_ *Engine, _ *workspace, name, s string) (value, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			return value{}, twilioapi.InvalidParam(name, s)
		}
		return value{s: s, n: n}, nil
	}
}

func oneOf(allowed ...string) parseFunc {
	return func(_ *Engine, _ *workspace, name, s string) (value, error) {
		if !slices.Contains(allowed, s) {
			return value{}, twilioapi.InvalidParam(name, s)
		}
		return value{s: s}, nil
	}
}

// emptyAs reads an empty value as def.
func emptyAs(def string, p parseFunc) parseFunc {
	return func(e *Engine, ws *workspace, name, s string) (value, error) {
		if s == "" {
			s = def
		}
		return p(e, ws, name, s)
	}
}

// optional lets an empty value through unchecked: it clears the field.
func optional(p parseFunc) parseFunc {
	return func(e *Engine, ws *workspace, name, s string) (value, error) {
		if s == "" {
			return value{}, nil
		}
		return p(e, ws, name, s)
	}
}

// callbackURL accepts an absolute http(s) URL, or nothing.
func callbackURL(_ *Engine, _ *workspace, name, s string) (value, error) {
	if s == "" {
		return value{}, nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return value{}, twilioapi.InvalidParam(name, s)
	}
	return value{s: s}, nil
}

// activityIn accepts the SID of one of the workspace's activities.
func activityIn(e *Engine, ws *workspace, name, s string) (value, error) {
	if a := e.activities[s]; a == nil || a.wsSid != ws.sid {
		return value{}, twilioapi.InvalidParam(name, s)
	}
	return value{s: s}, nil
}

// attributes accepts a JSON object, as Twilio requires of Attributes.
func attributes(_ *Engine, _ *workspace, name, s string) (value, error) {
	attrs, valid := parseAttributes(s)
	if !valid {
		return value{}, twilioapi.InvalidParam(name, s)
	}
	return value{s: s, x: attrs}, nil
}

func queryBool(q url.Values, name string) (value, given bool) {
	s := q.Get(name)
	if s == "" {
		return false, false
	}
	return strings.EqualFold(s, "true") || s == "1", true
}

// checkIfMatch compares If-Match with the resource's ETag: 412 on mismatch.
func checkIfMatch(r *http.Request, version int) error {
	want := strings.Trim(r.Header.Get("If-Match"), `"`)
	if want == "" || want == "*" || want == strconv.Itoa(version) {
		return nil
	}
	// Twilio's codes mirror the HTTP status for generic errors (20403, 20404, 20429): 20412.
	return twilioapi.Errorf(http.StatusPreconditionFailed, 20412, "Precondition Failed: If-Match %q does not match the current ETag %d", want, version)
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

func (e *Engine) workspaceOf(r *http.Request) (*workspace, error) {
	sid := r.PathValue("ws")
	ws := e.workspaces[sid]
	if ws == nil {
		return nil, twilioapi.NotFound("Workspaces", sid)
	}
	return ws, nil
}

// lookup finds the resource the path names in its {param}, within the path's workspace.
func lookup[P recorded](e *Engine, r *http.Request, k *kind[P], param string) (*workspace, P, error) {
	var none P
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, none, err
	}
	sid := r.PathValue(param)
	x, found := k.all(e)[sid]
	if !found || x.rec().wsSid != ws.sid {
		return nil, none, twilioapi.NotFound(k.name, sid)
	}
	return ws, x, nil
}

func (k *kind[P]) answer(e *Engine, rp func(map[string]any) *reply, base string, x P) *reply {
	out := rp(k.render(e, base, x))
	if k.etag {
		out.withETag(x.rec().version)
	}
	return out
}

func fetch[P recorded](e *Engine, k *kind[P]) handlerFunc {
	return func(r *http.Request, base string) (*reply, error) {
		_, x, err := lookup(e, r, k, k.param)
		if err != nil {
			return nil, err
		}
		return k.answer(e, ok, base, x), nil
	}
}

// listed answers the items of kind k in workspace ws ("": all) that keep accepts, oldest first.
func listed[P recorded](e *Engine, base string, k *kind[P], ws string, keep func(P) bool) *reply {
	var items []map[string]any
	for _, x := range inOrder(k.all(e), ws) {
		if keep(x) {
			items = append(items, k.render(e, base, x))
		}
	}
	return list(k.key, items)
}

// create stores x, a new resource of kind k, once the table's parameters are applied to it.
func create[P recorded](e *Engine, r *http.Request, base string, k *kind[P], ws *workspace, x P, params []param[P]) (*reply, error) {
	if err := applyParams(e, r, ws, x, params); err != nil {
		return nil, err
	}
	x.rec().updated = e.now()
	k.all(e)[x.rec().sid] = x
	return k.answer(e, created, base, x), nil
}

// update applies the table's parameters to the resource the path names; after, when given,
// lets the engine act on the change.
func update[P recorded](e *Engine, k *kind[P], params []param[P], after func(r *http.Request, ws *workspace, x P)) handlerFunc {
	return func(r *http.Request, base string) (*reply, error) {
		ws, x, err := lookup(e, r, k, k.param)
		if err != nil {
			return nil, err
		}
		if err := applyParams(e, r, ws, x, params); err != nil {
			return nil, err
		}
		x.rec().updated = e.now()
		if after != nil {
			after(r, ws, x)
		}
		return k.answer(e, ok, base, x), nil
	}
}

// remove deletes the resource the path names unless refuse, Twilio's rule for the kind, objects.
func remove[P recorded](e *Engine, k *kind[P], refuse func(ws *workspace, x P) error) handlerFunc {
	return func(r *http.Request, _ string) (*reply, error) {
		ws, x, err := lookup(e, r, k, k.param)
		if err != nil {
			return nil, err
		}
		if k.etag {
			if err := checkIfMatch(r, x.rec().version); err != nil {
				return nil, err
			}
		}
		if err := refuse(ws, x); err != nil {
			return nil, err
		}
		delete(k.all(e), x.rec().sid)
		return noContent(), nil
	}
}
