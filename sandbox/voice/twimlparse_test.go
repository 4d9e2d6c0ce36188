package voice

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseTwiML(t *testing.T) {
	tests := []struct {
		name      string
		doc       string
		wantVerbs []string
		wantCode  int
	}{
		{"declaration and comments", `<?xml version="1.0" encoding="UTF-8"?><!-- hi --><Response><Say>a</Say><Hangup/></Response>`, []string{"Say", "Hangup"}, 0},
		{"SSML inside Say", `<Response><Say voice="Polly.Joanna">Hello <break time="1s"/> <prosody rate="slow">world</prosody></Say></Response>`, []string{"Say"}, 0},
		{"empty response", `<Response/>`, []string{}, 0},
		{"Gather nests prompts", `<Response><Gather><Say>x</Say><Play>u</Play><Pause/></Gather></Response>`, []string{"Gather"}, 0},
		{"Gather cannot nest Dial", `<Response><Gather><Dial>+15550001111</Dial></Gather></Response>`, nil, 12200},
		{"verbs are case-sensitive", `<Response><say>a</say></Response>`, nil, 12200},
		{"empty body", ``, nil, 12100},
		{"plain text", `hello`, nil, 12100},
		{"unclosed", `<Response><Say>`, nil, 12100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			verbs, err := parseTwiML([]byte(tt.doc))
			if tt.wantCode != 0 {
				var te *twimlError
				require.ErrorAs(t, err, &te)
				assert.Equal(t, tt.wantCode, te.code)
				return
			}
			require.NoError(t, err)
			names := []string{}
			for _, v := range verbs {
				names = append(names, v.name)
			}
			assert.Equal(t, tt.wantVerbs, names)
		})
	}
}

// TestParseTwiMLAsTwilioGoWritesIt parses the document twilio-go's twiml package renders for
// the bridge (attributes in any order, XML declaration, no whitespace).
func TestParseTwiMLAsTwilioGoWritesIt(t *testing.T) {
	doc := `<?xml version="1.0" encoding="UTF-8"?><Response><Dial action="/done"><Queue postWorkActivitySid="WA1" reservationSid="WR1"></Queue></Dial><Hangup></Hangup></Response>`
	verbs, err := parseTwiML([]byte(doc))
	require.NoError(t, err)
	require.Len(t, verbs, 2)
	assert.Equal(t, "Dial", verbs[0].name)
	assert.Equal(t, "/done", verbs[0].attrs["action"])
	require.Len(t, verbs[0].children, 1)
	assert.Equal(t, "WR1", verbs[0].children[0].attrs["reservationSid"])
	assert.Equal(t, "WA1", verbs[0].children[0].attrs["postWorkActivitySid"])
	assert.Equal(t, "Hangup", verbs[1].name)
}

func TestSayDurationCountsWordsOfSSML(t *testing.T) {
	verbs, err := parseTwiML([]byte(`<Response><Say>one <emphasis>two</emphasis> three</Say></Response>`))
	require.NoError(t, err)
	assert.Equal(t, 3*sayPerWord, verbDuration(verbs[0]))
}

func TestNormalizeNumber(t *testing.T) {
	for in, want := range map[string]string{
		"+15550001111": "+15550001111", "(415) 555-1212": "+14155551212", "415-555-1212": "+14155551212",
		"1 415 555 1212": "+14155551212", "sip:agent@example.com": "sip:agent@example.com", "call me": "call me", "12345": "12345",
	} {
		assert.Equal(t, want, normalizeNumber(in), in)
	}
}
