package voice

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
)

// verb is one parsed TwiML element.
type verb struct {
	name     string
	attrs    map[string]string
	text     string
	children []verb
}

func (v verb) attr(name, def string) string {
	if s, ok := v.attrs[name]; ok && s != "" {
		return s
	}
	return def
}

// twimlError is an application error as Twilio's debugger reports it (12100 document parse
// failure, 12200 schema validation, 11200 HTTP retrieval failure …).
type twimlError struct {
	code int
	msg  string
}

func (e *twimlError) Error() string { return fmt.Sprintf("error %d: %s", e.code, e.msg) }

type xmlNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []xmlNode  `xml:",any"`
}

// Which verbs the executor knows, and which nouns each may contain.
var verbNouns = map[string]map[string]bool{
	"Say": nil, "Play": nil, "Pause": nil, "Hangup": nil, "Redirect": nil, "Reject": nil,
	"Leave": nil, "Record": nil,
	"Gather":  {"Say": true, "Play": true, "Pause": true},
	"Enqueue": {"Task": true},
	"Dial":    {"Number": true, "Queue": true},
}

// parseTwiML parses a <Response> document. A malformed document is Twilio's 12100; a verb or
// noun the sandbox does not know is 12200 (the sandbox ends the call on both).
func parseTwiML(body []byte) ([]verb, error) {
	var root xmlNode
	dec := xml.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&root); err != nil {
		return nil, &twimlError{code: 12100, msg: "Document parse failure: " + err.Error()}
	}
	if root.XMLName.Local != "Response" {
		return nil, &twimlError{code: 12100, msg: "Document parse failure: root element is <" + root.XMLName.Local + ">, not <Response>"}
	}
	verbs := make([]verb, 0, len(root.Children))
	for _, n := range root.Children {
		nouns, ok := verbNouns[n.XMLName.Local]
		if !ok {
			return nil, &twimlError{code: 12200, msg: "Schema validation warning: unsupported verb <" + n.XMLName.Local + ">"}
		}
		v := toVerb(n)
		if v.name == "Say" {
			// SSML (<break>, <prosody>, <emphasis> …) may nest in <Say>: spoken, not run.
			v.text = strings.Join(strings.Fields(innerText(n)), " ")
			verbs = append(verbs, v)
			continue
		}
		for _, c := range n.Children {
			if !nouns[c.XMLName.Local] {
				return nil, &twimlError{code: 12200, msg: fmt.Sprintf("Schema validation warning: <%s> cannot contain <%s>", n.XMLName.Local, c.XMLName.Local)}
			}
			v.children = append(v.children, toVerb(c))
		}
		verbs = append(verbs, v)
	}
	return verbs, nil
}

func toVerb(n xmlNode) verb {
	v := verb{name: n.XMLName.Local, attrs: map[string]string{}, text: strings.TrimSpace(n.Text)}
	for _, a := range n.Attrs {
		v.attrs[a.Name.Local] = a.Value
	}
	return v
}

// innerText is the text of n and of everything nested in it.
func innerText(n xmlNode) string {
	var b strings.Builder
	b.WriteString(n.Text)
	for _, c := range n.Children {
		b.WriteString(" ")
		b.WriteString(innerText(c))
	}
	return b.String()
}
