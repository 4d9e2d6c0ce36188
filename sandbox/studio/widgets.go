package studio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/twilio/twilio-go/twiml"
)

// runWidget enters a widget: the ones that talk to the call answer TwiML whose action (or
// trailing Redirect) is the continuation URL of this step; the others run at once.
func (e *Engine) runWidget(ctx context.Context, ex *execution, s *State, st *step) widgetOutcome {
	cont := e.continuationURL(ex, st)
	switch s.Type {
	case "say-play":
		return widgetOutcome{verbs: append(sayOrPlay(ex, s), &twiml.VoiceRedirect{Url: cont, Method: http.MethodPost})}
	case "gather-input-on-call":
		return widgetOutcome{verbs: gather(ex, s, cont)}
	case "enqueue-call":
		return widgetOutcome{verbs: enqueue(ex, s, cont)}
	case "record-voicemail":
		return widgetOutcome{verbs: recordVoicemail(ex, s, cont)}
	case "split-based-on":
		return split(ex, s)
	case "set-variables":
		return setVariables(ex, s)
	case "make-http-request":
		return e.makeHTTPRequest(ctx, ex, s)
	case "trigger":
		return widgetOutcome{err: errors.New("a transition cannot lead back to the trigger")}
	}
	return widgetOutcome{err: fmt.Errorf("widget type %q is not supported by the sandbox", s.Type)}
}

func (e *Engine) continuationURL(ex *execution, st *step) string {
	return e.baseURL() + "/v1/Accounts/" + e.cfg.Credentials.AccountSid + "/Flows/" + ex.flowSid +
		"/Executions/" + ex.sid + "/Steps/" + st.sid
}

// text renders a property as a Liquid template against the execution's variables.
func (ex *execution) text(s *State, name string) string { return render(s.prop(name), ex.vars) }

func (ex *execution) textOr(s *State, name, fallback string) string {
	if v := ex.text(s, name); v != "" {
		return v
	}
	return fallback
}

// sayOrPlay is the message of say-play and gather-input-on-call: say wins over play.
func sayOrPlay(ex *execution, s *State) []twiml.Element {
	loop := ex.text(s, "loop")
	var verbs []twiml.Element
	switch {
	case ex.text(s, "say") != "":
		verbs = append(verbs, &twiml.VoiceSay{
			Message: ex.text(s, "say"), Voice: ex.text(s, "voice"), Language: ex.text(s, "language"), Loop: loop,
		})
	case ex.text(s, "play") != "":
		verbs = append(verbs, &twiml.VoicePlay{Url: ex.text(s, "play"), Loop: loop})
	}
	if digits := ex.text(s, "digits"); digits != "" {
		verbs = append(verbs, &twiml.VoicePlay{Digits: digits})
	}
	return verbs
}

// gather asks for digits (and speech when the flow uses the speech transition, as Studio
// enables speech recognition only then). With no input, Twilio moves on past <Gather> without
// requesting its action: the Redirect then brings the timeout.
func gather(ex *execution, s *State, cont string) []twiml.Element {
	input := "dtmf"
	if s.next("speech") != "" {
		input = "dtmf speech"
	}
	finishOnKey := ex.textOr(s, "finish_on_key", "#")
	if s.prop("stop_gather") == "false" {
		finishOnKey = ""
	}
	g := &twiml.VoiceGather{
		Input: input, Action: cont, Method: http.MethodPost,
		Timeout:       ex.textOr(s, "timeout", "5"),
		FinishOnKey:   finishOnKey,
		NumDigits:     ex.text(s, "number_of_digits"),
		SpeechTimeout: ex.text(s, "speech_timeout"),
		Language:      ex.text(s, "gather_language"),
		Hints:         ex.text(s, "hints"),
		SpeechModel:   ex.text(s, "speech_model"),
		InnerElements: sayOrPlay(ex, s),
	}
	if pf := s.prop("profanity_filter"); pf != "" {
		g.ProfanityFilter = pf
	}
	return []twiml.Element{g, &twiml.VoiceRedirect{Url: cont, Method: http.MethodPost}}
}

// enqueue puts the call in a TaskRouter workflow (or a named queue). task_attributes is a JSON
// string rendered with Liquid and passed on as the <Task> body unchanged; the Voice engine and
// TaskRouter judge it, as Twilio's would.
func enqueue(ex *execution, s *State, cont string) []twiml.Element {
	q := &twiml.VoiceEnqueue{
		Action: cont, Method: http.MethodPost,
		WaitUrl: ex.text(s, "wait_url"), WaitUrlMethod: ex.text(s, "wait_url_method"),
	}
	if wf := ex.text(s, "workflow_sid"); wf != "" {
		q.WorkflowSid = wf
		attrs := strings.TrimSpace(ex.text(s, "task_attributes"))
		if attrs == "" {
			attrs = "{}"
		}
		q.InnerElements = []twiml.Element{&twiml.VoiceTask{
			Body: attrs, Priority: ex.text(s, "priority"), Timeout: ex.text(s, "timeout"),
		}}
	} else {
		q.Name = ex.text(s, "queue_name")
	}
	return []twiml.Element{q}
}

// recordVoicemail records a message. Twilio does not request the action URL when nothing was
// recorded and goes on to the next verb: the Redirect after <Record> brings noAudio.
func recordVoicemail(ex *execution, s *State, cont string) []twiml.Element {
	rec := &twiml.VoiceRecord{
		Action: cont, Method: http.MethodPost,
		Timeout:                 ex.textOr(s, "timeout", "5"),
		MaxLength:               ex.textOr(s, "max_length", "3600"),
		FinishOnKey:             ex.textOr(s, "finish_on_key", "#"),
		PlayBeep:                ex.textOr(s, "play_beep", "true"),
		Trim:                    ex.text(s, "trim"),
		Transcribe:              ex.text(s, "transcribe"),
		TranscribeCallback:      ex.text(s, "transcription_callback_url"),
		RecordingStatusCallback: ex.text(s, "recording_status_callback_url"),
	}
	return []twiml.Element{rec, &twiml.VoiceRedirect{Url: cont, Method: http.MethodPost}}
}

// split takes the first "match" transition whose conditions all hold, else noMatch.
func split(ex *execution, s *State) widgetOutcome {
	input := ex.text(s, "input")
	for _, t := range s.Transitions {
		if t.Event != "match" {
			continue
		}
		all := len(t.Conditions) > 0
		for _, c := range t.Conditions {
			subject := input
			if len(c.Arguments) > 0 {
				subject = render(c.Arguments[0], ex.vars)
			}
			ok, err := evalCondition(c.Type, subject, render(string(c.Value), ex.vars))
			if err != nil {
				return widgetOutcome{err: err}
			}
			if !ok {
				all = false
				break
			}
		}
		if all {
			next := t.Next
			return widgetOutcome{event: "match", next: &next}
		}
	}
	return widgetOutcome{event: "noMatch"}
}

// setVariables stores rendered values under flow.variables.
func setVariables(ex *execution, s *State) widgetOutcome {
	list, _ := s.Properties["variables"].([]any)
	for _, item := range list {
		kv, _ := item.(map[string]any)
		key := stringify(kv["key"])
		if key == "" {
			continue
		}
		ex.flowVariables()[key] = render(stringify(kv["value"]), ex.vars)
	}
	return widgetOutcome{event: "next"}
}

// maxHTTPBody is Studio's limit on a Make HTTP Request response.
const maxHTTPBody = 64 << 10

// makeHTTPRequest calls out and stores status_code, content_type, body and, for a JSON answer,
// parsed under widgets.NAME. 2xx is success; any other status or a transport error is failed.
func (e *Engine) makeHTTPRequest(ctx context.Context, ex *execution, s *State) widgetOutcome {
	method := strings.ToUpper(ex.textOr(s, "method", http.MethodGet))
	target := ex.text(s, "url")
	contentType := ex.textOr(s, "content_type", "application/x-www-form-urlencoded;charset=utf-8")
	body := ex.text(s, "body")
	params := url.Values{}
	if list, ok := s.Properties["parameters"].([]any); ok {
		for _, item := range list {
			kv, _ := item.(map[string]any)
			if key := stringify(kv["key"]); key != "" {
				params.Add(key, render(stringify(kv["value"]), ex.vars))
			}
		}
	}
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return e.httpFailed(ex, s, fmt.Errorf("invalid url %q", target))
	}
	var reqBody io.Reader
	if method == http.MethodGet || method == http.MethodDelete {
		q := u.Query()
		for k, vs := range params {
			for _, v := range vs {
				q.Add(k, v)
			}
		}
		u.RawQuery = q.Encode()
	} else {
		if body == "" && len(params) > 0 {
			body = params.Encode()
		}
		reqBody = strings.NewReader(body)
	}
	sig := e.signHTTPRequest(u, method, contentType, body)
	req, err := http.NewRequestWithContext(ctx, method, u.String(), reqBody)
	if err != nil {
		return e.httpFailed(ex, s, err)
	}
	if reqBody != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", "TwilioStudio/1.0")
	req.Header.Set("X-Twilio-Signature", sig)
	resp, err := e.cfg.HTTPClient.Do(req)
	if err != nil {
		return e.httpFailed(ex, s, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPBody+1))
	if err != nil {
		return e.httpFailed(ex, s, fmt.Errorf("reading the answer: %w", err))
	}
	vars := map[string]any{
		"status_code":  resp.StatusCode,
		"content_type": resp.Header.Get("Content-Type"),
		"body":         string(data),
	}
	ex.widgets()[s.Name] = vars
	if len(data) > maxHTTPBody {
		vars["body"] = string(data[:maxHTTPBody])
		vars["error"] = "response body larger than 64kB"
		return widgetOutcome{event: "failed"}
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var parsed any
		if dec.Decode(&parsed) == nil {
			vars["parsed"] = parsed
		}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return widgetOutcome{event: "failed"}
	}
	return widgetOutcome{event: "success"}
}

func (e *Engine) httpFailed(ex *execution, s *State, err error) widgetOutcome {
	e.cfg.Logger.Info("studio http request failed", "execution", ex.sid, "call", ex.callSid, "widget", s.Name, "err", err)
	ex.widgets()[s.Name] = map[string]any{"error": err.Error()}
	return widgetOutcome{event: "failed"}
}
