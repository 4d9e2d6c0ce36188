package voice

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// TestPersonaAMDVerdicts drives each persona under Enable and DetectMessageEnd through a real
// call and checks what the application receives on its Url: AnsweredBy and
// MachineDetectionDuration, and that the Url is fetched only once detection is over.
func TestPersonaAMDVerdicts(t *testing.T) {
	longGreeting := Voicemail(3*time.Second, 8*time.Second, true)
	tests := []struct {
		name       string
		persona    Persona
		mode       string
		amdTimeout int
		wantBy     string
		wantMs     int
	}{
		{"human/Enable", Human(2*time.Second, 30*time.Second), "Enable", 0, "human", 2200},
		{"human/DetectMessageEnd", Human(2*time.Second, 30*time.Second), "DetectMessageEnd", 0, "human", 2200},
		{"talkative human is taken for a machine/Enable", Human(2*time.Second, 30*time.Second).WithGreeting(3*time.Second, ""), "Enable", 0, "machine_start", 2400},
		{"talkative human is taken for a machine/DetectMessageEnd", Human(2*time.Second, 30*time.Second).WithGreeting(3*time.Second, ""), "DetectMessageEnd", 0, "machine_end_silence", 4200},
		{"voicemail/Enable", longGreeting, "Enable", 0, "machine_start", 2400},
		{"voicemail beep/DetectMessageEnd", longGreeting, "DetectMessageEnd", 0, "machine_end_beep", 8500},
		{"voicemail silence/DetectMessageEnd", Voicemail(3*time.Second, 8*time.Second, false), "DetectMessageEnd", 0, "machine_end_silence", 9200},
		{"voicemail other/DetectMessageEnd", longGreeting.WithGreeting(8*time.Second, GreetingEndsWithOther), "DetectMessageEnd", 0, "machine_end_other", 9200},
		{"voicemail greeting past timeout/DetectMessageEnd", Voicemail(3*time.Second, 40*time.Second, true), "DetectMessageEnd", 0, "unknown", 30000},
		{"voicemail greeting past short timeout/DetectMessageEnd", longGreeting, "DetectMessageEnd", 5, "unknown", 5000},
		{"short voicemail greeting sounds human/Enable", Voicemail(3*time.Second, 2*time.Second, true), "Enable", 0, "human", 3200},
		{"ShortVoicemail fools AMD/Enable", ShortVoicemail(time.Second), "Enable", 0, "human", 2700},
		{"ShortVoicemail fools AMD/DetectMessageEnd", ShortVoicemail(time.Second), "DetectMessageEnd", 0, "human", 2700},
		{"fax/Enable", Fax(time.Second), "Enable", 0, "fax", 2000},
		{"fax/DetectMessageEnd", Fax(time.Second), "DetectMessageEnd", 0, "fax", 2000},
		{"silent/Enable", Silent(time.Second), "Enable", 0, "unknown", 5000},
		{"silent/DetectMessageEnd", Silent(time.Second), "DetectMessageEnd", 0, "unknown", 5000},
		{"silent with short timeout/Enable", Silent(time.Second), "Enable", 3, "unknown", 3000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.app.twiml("/answer", `<Response><Hangup/></Response>`)
			h.engine.SetPersona(agentPhone, tt.persona)
			sid := h.createCall(agentPhone, func(p *openapi.CreateCallParams) {
				p.SetMachineDetection(tt.mode)
				if tt.amdTimeout > 0 {
					p.SetMachineDetectionTimeout(tt.amdTimeout)
				}
			})
			h.advance(tt.persona.AnswerAfter)
			require.Equal(t, "in-progress", h.call(sid).Status)
			h.advance(time.Duration(tt.wantMs)*time.Millisecond - time.Millisecond)
			assert.Empty(t, h.app.hitsTo("/answer"), "the Url waits for AMD to finish")
			h.advance(time.Millisecond)

			hits := h.app.hitsTo("/answer")
			require.Len(t, hits, 1)
			assert.Equal(t, tt.wantBy, hits[0].Form.Get("AnsweredBy"))
			assert.Equal(t, strconv.Itoa(tt.wantMs), hits[0].Form.Get("MachineDetectionDuration"))
			assert.Equal(t, "in-progress", hits[0].Form.Get("CallStatus"))
			assert.Equal(t, "outbound-api", hits[0].Form.Get("Direction"))

			info := h.call(sid)
			assert.Equal(t, "completed", info.Status, "<Hangup/> ends the call")
			assert.Equal(t, tt.wantBy, info.AnsweredBy)
			assert.Equal(t, time.Duration(tt.wantMs)*time.Millisecond, info.MachineDetectionDuration)
			assert.Contains(t, h.timeline(sid), "amd: "+tt.wantBy)

			fetched, err := h.api.FetchCall(sid, nil)
			require.NoError(t, err)
			require.NotNil(t, fetched.AnsweredBy)
			assert.Equal(t, tt.wantBy, *fetched.AnsweredBy)
		})
	}
}

func TestAMDThresholdsShapeTheVerdict(t *testing.T) {
	base := amdParams{mode: "Enable", timeout: 30 * time.Second, speech: 2400 * time.Millisecond,
		speechEnd: 1200 * time.Millisecond, silence: 5000 * time.Millisecond}
	tests := []struct {
		name    string
		persona Persona
		tune    func(a *amdParams)
		wantBy  string
		wantAt  time.Duration
	}{
		{"longer speech end threshold delays human", Human(0, 0), func(a *amdParams) { a.speechEnd = 3 * time.Second }, "human", 4 * time.Second},
		{"speech threshold below the hello hears a machine", Human(0, 0), func(a *amdParams) { a.speech = 1000 * time.Millisecond / 2 }, "machine_start", 500 * time.Millisecond},
		{"higher speech threshold waits longer for machine_start", Voicemail(0, 10*time.Second, true), func(a *amdParams) { a.speech = 6 * time.Second }, "machine_start", 6 * time.Second},
		{"silence timeout decides unknown", Silent(0), func(a *amdParams) { a.silence = 2 * time.Second }, "unknown", 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base
			tt.tune(&a)
			by, at := verdict(tt.persona, a)
			assert.Equal(t, tt.wantBy, by)
			assert.Equal(t, tt.wantAt, at)
		})
	}
}

func TestAsyncAMDFetchesUrlAtOnceAndPostsVerdict(t *testing.T) {
	h := newHarness(t)
	h.app.twiml("/answer", `<Response><Pause length="20"/></Response>`)
	h.engine.SetPersona(agentPhone, Voicemail(2*time.Second, 8*time.Second, true))
	sid := h.createCall(agentPhone, func(p *openapi.CreateCallParams) {
		p.SetMachineDetection("DetectMessageEnd").SetAsyncAmd("true").SetAsyncAmdStatusCallback(h.app.url("/amd"))
	})
	h.advance(2 * time.Second)
	hits := h.app.hitsTo("/answer")
	require.Len(t, hits, 1, "with AsyncAmd the Url is fetched on answer")
	assert.Empty(t, hits[0].Form.Get("AnsweredBy"))
	assert.Empty(t, h.app.hitsTo("/amd"))

	h.advance(8500 * time.Millisecond)
	amd := h.app.hitsTo("/amd")
	require.Len(t, amd, 1)
	assert.Equal(t, "machine_end_beep", amd[0].Form.Get("AnsweredBy"))
	assert.Equal(t, "8500", amd[0].Form.Get("MachineDetectionDuration"))
	assert.Equal(t, sid, amd[0].Form.Get("CallSid"))
	assert.Equal(t, "in-progress", h.call(sid).Status, "the TwiML keeps running")
}

func TestSendDigitsDisablesAMD(t *testing.T) {
	h := newHarness(t)
	h.app.twiml("/answer", `<Response><Hangup/></Response>`)
	sid := h.createCall(agentPhone, func(p *openapi.CreateCallParams) {
		p.SetMachineDetection("Enable").SetSendDigits("1234")
	})
	h.advance(2 * time.Second)
	hits := h.app.hitsTo("/answer")
	require.Len(t, hits, 1, "the Url is fetched on answer, without waiting for AMD")
	assert.Empty(t, hits[0].Form.Get("AnsweredBy"))
	assert.Empty(t, h.call(sid).AnsweredBy)
}
