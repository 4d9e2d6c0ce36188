package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"queuebridge/sandbox"
)

const callUsage = `usage: sandbox call [flags]

Places an inbound call through a running sandbox's control surface and prints its timeline
as it happens: the caller's call, its task and reservations, and every agent leg.

--agents sets the personas of the agents' phones first, in order, onto the workers' contact_uri
in the order the workers were created (with the example bootstrap spec: Alice, Bob, Carol), or
onto --numbers when given. Kinds: human (answers after 3 s, talks 20 s), voicemail (answers
after 3 s, 10 s greeting and a beep), no-answer, busy, fail, fax, silent (answer after 3 s).

flags:
`

type callOptions struct {
	url, accountSID, authToken string
	from, to                   string
	agents, numbers            []string
	digits                     string
	patience                   time.Duration
	timeout                    time.Duration
}

func parseCallArgs(args []string, getenv func(string) string, stderr io.Writer) (callOptions, error) {
	var o callOptions
	fs := flag.NewFlagSet("sandbox call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, callUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.url, "url", firstOf(getenv("TWILIO_API_URL"), "http://"+defaultAddr), "the sandbox's `URL` (default $TWILIO_API_URL, else the default address)")
	fs.StringVar(&o.accountSID, "account-sid", firstOf(getenv("TWILIO_ACCOUNT_SID"), sandbox.DefaultAccountSID), "the sandbox's account SID (default $TWILIO_ACCOUNT_SID, else the sandbox's fixed one)")
	fs.StringVar(&o.authToken, "auth-token", firstOf(getenv("TWILIO_AUTH_TOKEN"), sandbox.DefaultAuthToken), "the sandbox's auth token (default $TWILIO_AUTH_TOKEN, else the sandbox's fixed one)")
	fs.StringVar(&o.from, "from", "+15551230001", "the caller's `number` (E.164)")
	fs.StringVar(&o.to, "to", sandbox.DefaultNumber, "the sandbox `number` called (E.164)")
	agents := fs.String("agents", "", "comma-separated persona `kinds` of the agents' phones, in order")
	numbers := fs.String("numbers", "", "comma-separated agent `numbers` that --agents maps onto (default: the workers' contact_uri)")
	fs.StringVar(&o.digits, "digits", "", "`keys` the caller presses at the first menu (e.g. 1)")
	fs.DurationVar(&o.patience, "patience", 0, "how long the caller waits in the queue before hanging up (0: forever)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "stop printing after this long (real time)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, usageError{msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return o, usagef("call: unexpected argument %q", fs.Arg(0))
	}
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, usagef("call: --url %q: want the sandbox's base URL (http://127.0.0.1:8910)", o.url)
	}
	o.url = strings.TrimRight(o.url, "/")
	o.agents = splitList(*agents)
	for _, k := range o.agents {
		switch k {
		case "human", "voicemail", "no-answer", "busy", "fail", "fax", "silent":
		default:
			return o, usagef("call: --agents: unknown persona %q (human, voicemail, no-answer, busy, fail, fax, silent)", k)
		}
	}
	o.numbers = splitList(*numbers)
	if len(o.numbers) > 0 && len(o.agents) > len(o.numbers) {
		return o, usagef("call: %d agents for %d numbers", len(o.agents), len(o.numbers))
	}
	if o.patience < 0 || o.timeout <= 0 {
		return o, usagef("call: --patience must not be negative and --timeout must be positive")
	}
	return o, nil
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// controlClient speaks to the sandbox's control surface.
type controlClient struct {
	base, user, pass string
	http             *http.Client
}

// do sends body as JSON (when not nil) and decodes the answer into out; a 4xx or 5xx is an
// error carrying the sandbox's message.
func (c *controlClient) do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth(c.user, c.pass)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: is the sandbox running? %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return &statusError{status: resp.StatusCode, msg: fmt.Sprintf("%s %s: %s (%d)", method, path, e.Error, resp.StatusCode)}
		}
		return &statusError{status: resp.StatusCode, msg: fmt.Sprintf("%s %s: status %d (is %s a sandbox?)", method, path, resp.StatusCode, c.base)}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

// statusError is an error answer from the sandbox.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

type callInfo struct {
	Sid       string `json:"sid"`
	To        string `json:"to"`
	Direction string `json:"direction"`
	Status    string `json:"status"`
	TaskSid   string `json:"task_sid"`
}

func runCall(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseCallArgs(args, getenv, stderr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	c := &controlClient{base: o.url, user: o.accountSID, pass: o.authToken, http: &http.Client{Timeout: 10 * time.Second}}

	if len(o.agents) > 0 {
		numbers := o.numbers
		if len(numbers) == 0 {
			if numbers, err = workerNumbers(ctx, c); err != nil {
				return err
			}
			if len(o.agents) > len(numbers) {
				return fmt.Errorf("%d agents but the sandbox has %d workers with a contact_uri: run the bootstrap first, or give --numbers", len(o.agents), len(numbers))
			}
		}
		for i, kind := range o.agents {
			if err := c.do(ctx, http.MethodPut, "/sandbox/personas/"+url.PathEscape(numbers[i]), agentPersona(kind), nil); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "agent %s answers as %s\n", numbers[i], kind)
		}
	}
	if o.digits != "" || o.patience > 0 {
		p := map[string]string{"kind": "human", "digits": o.digits}
		if o.patience > 0 {
			p["patience"] = o.patience.String()
		}
		if err := c.do(ctx, http.MethodPut, "/sandbox/personas/"+url.PathEscape(o.from), p, nil); err != nil {
			return err
		}
	}

	var placed struct {
		Sid string `json:"sid"`
	}
	if err := c.do(ctx, http.MethodPost, "/sandbox/calls", map[string]string{"from": o.from, "to": o.to}, &placed); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "call %s from %s to %s\n", placed.Sid, o.from, o.to)
	return follow(ctx, c, placed.Sid, stdout)
}

// agentPersona is the persona --agents gives a kind: a phone that rings a few seconds before
// answering, a voicemail with a greeting long enough for AMD to call it a machine (a persona's
// own default greeting is none at all, which AMD hears as silence: unknown).
func agentPersona(kind string) map[string]any {
	switch kind {
	case "human":
		return map[string]any{"kind": kind, "answer_after": "3s", "talk_for": "20s"}
	case "voicemail":
		return map[string]any{"kind": kind, "answer_after": "3s", "greeting": "10s", "beep": true}
	case "fax", "silent":
		return map[string]any{"kind": kind, "answer_after": "3s"}
	}
	return map[string]any{"kind": kind}
}

// workerNumbers lists the workers' contact_uri, oldest worker first.
func workerNumbers(ctx context.Context, c *controlClient) ([]string, error) {
	var list struct {
		Workers []struct {
			Attributes map[string]any `json:"attributes"`
		} `json:"workers"`
	}
	if err := c.do(ctx, http.MethodGet, "/sandbox/workers", nil, &list); err != nil {
		return nil, err
	}
	var out []string
	for _, w := range list.Workers {
		if uri, _ := w.Attributes["contact_uri"].(string); uri != "" {
			out = append(out, uri)
		}
	}
	return out, nil
}

// follow prints the call's story as it grows, until the caller's call has ended and its task
// (if any) is done, or a little while after the call ended when nobody completes the task.
func follow(ctx context.Context, c *controlClient, callSid string, w io.Writer) error {
	p := &printer{w: w, caller: callSid, labels: map[string]string{callSid: "caller"}}
	after := 0
	var endedAt time.Time
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		// Whether the call is over is read before the timeline, so the last entries are printed.
		done, err := p.finished(ctx, c, callSid)
		if err != nil {
			return err
		}
		var page struct {
			Entries []sandbox.Entry `json:"entries"`
			Next    int             `json:"next"`
		}
		if err := c.do(ctx, http.MethodGet, fmt.Sprintf("/sandbox/timeline/%s?after=%d", callSid, after), nil, &page); err != nil {
			return err
		}
		if len(page.Entries) > 0 {
			if err := p.learnCalls(ctx, c); err != nil {
				return err
			}
		}
		for _, e := range page.Entries {
			p.print(e)
		}
		after = page.Next
		if done {
			return nil
		}
		if p.callerEnded && endedAt.IsZero() {
			endedAt = time.Now()
		}
		// Without a bridge to complete it, a task may stay in wrapping: stop anyway.
		if !endedAt.IsZero() && time.Since(endedAt) > 3*time.Second {
			fmt.Fprintln(w, "the call ended; its task is not done yet (is the bridge running?)")
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("call %s still going after --timeout", callSid)
			}
			return nil
		case <-tick.C:
		}
	}
}

// printer writes timeline entries for a person: time since the call started, who, what.
type printer struct {
	w           io.Writer
	caller      string
	start       time.Time
	labels      map[string]string // call sid → caller / agent +1…
	callerEnded bool
}

func (p *printer) learnCalls(ctx context.Context, c *controlClient) error {
	var list struct {
		Calls []callInfo `json:"calls"`
	}
	if err := c.do(ctx, http.MethodGet, "/sandbox/calls", nil, &list); err != nil {
		return err
	}
	for _, call := range list.Calls {
		if _, ok := p.labels[call.Sid]; !ok {
			p.labels[call.Sid] = "agent " + call.To
		}
	}
	return nil
}

func (p *printer) print(e sandbox.Entry) {
	if p.start.IsZero() {
		p.start = e.Time
	}
	who := p.labels[e.Sid]
	if who == "" {
		who = e.Kind
	}
	var details []string
	keys := make([]string, 0, len(e.Detail))
	for k := range e.Detail {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch k {
		case "workspace", "flow", "step", "revision", "url", "action", "method", "text", "sent":
			continue // noise for a person; /sandbox/timeline has it all
		}
		v := e.Detail[k]
		if len(v) > 40 {
			v = v[:37] + "..."
		}
		details = append(details, k+"="+v)
	}
	fmt.Fprintf(p.w, "%8s  %-20s  %-34s  %-36s %s\n", fmtOffset(e.Time.Sub(p.start)), who, e.Sid, e.What, strings.Join(details, " "))
}

func fmtOffset(d time.Duration) string {
	return fmt.Sprintf("+%.1fs", d.Seconds())
}

// finished reports whether the caller's call has ended and its task, if any, is completed or
// canceled.
func (p *printer) finished(ctx context.Context, c *controlClient, callSid string) (bool, error) {
	var call callInfo
	if err := c.do(ctx, http.MethodGet, "/sandbox/calls/"+callSid, nil, &call); err != nil {
		return false, err
	}
	switch call.Status {
	case "completed", "busy", "failed", "no-answer", "canceled":
		p.callerEnded = true
	default:
		return false, nil
	}
	if call.TaskSid == "" {
		return true, nil
	}
	var task struct {
		AssignmentStatus string `json:"assignment_status"`
	}
	if err := c.do(ctx, http.MethodGet, "/sandbox/tasks/"+call.TaskSid, nil, &task); err != nil {
		var se *statusError
		if errors.As(err, &se) && se.status == http.StatusNotFound {
			return true, nil // ended tasks are deleted after 5 minutes
		}
		return false, err
	}
	return task.AssignmentStatus == "completed" || task.AssignmentStatus == "canceled", nil
}
