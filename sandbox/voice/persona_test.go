package voice

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPersonaJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Persona
		err  bool
	}{
		{"human", `{"kind":"human","answer_after":"2s","talk_for":"30s"}`, Human(2*time.Second, 30*time.Second), false},
		{"voicemail with beep", `{"kind":"voicemail","answer_after":"3s","greeting":"8s","beep":true}`, Voicemail(3*time.Second, 8*time.Second, true), false},
		{"voicemail without beep", `{"kind":"voicemail","greeting":"8s","beep":false}`, Voicemail(0, 8*time.Second, false), false},
		{"caller", `{"answer_after":"0s","patience":"45s","digits":"2","message_length":"10s"}`, Human(0, 0).WithPatience(45 * time.Second).WithDigits("2").WithMessage(10 * time.Second), false},
		{"fax", `{"kind":"fax","answer_after":"1s"}`, Fax(time.Second), false},
		{"agent who confirms late", `{"kind":"human","answer_after":"2s","digits":"9,1","press_after":"3s"}`, Human(2*time.Second, 0).WithDigits("9,1").WithPressAfter(3 * time.Second), false},
		{"bad press_after", `{"kind":"human","press_after":"-1s"}`, Persona{}, true},
		{"busy", `{"kind":"busy"}`, Busy(), false},
		{"unknown kind", `{"kind":"robot"}`, Persona{}, true},
		{"bad duration", `{"kind":"human","answer_after":"soon"}`, Persona{}, true},
		{"bad greeting end", `{"kind":"voicemail","greeting_end":"music"}`, Persona{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Persona
			err := json.Unmarshal([]byte(tt.in), &p)
			if tt.err {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, p)
			out, err := json.Marshal(p)
			require.NoError(t, err)
			var back Persona
			require.NoError(t, json.Unmarshal(out, &back))
			assert.Equal(t, p, back, "round trip")
		})
	}
}
