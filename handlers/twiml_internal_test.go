package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/fifo"
	"queuebridge/taskrouter"
)

// The rendered answers are kept by everything they are rendered from: the same instruction gets
// the same bytes without a render, and any difference (another reservation, a whisper, the
// recording) gets its own rendering, never a kept one. (twilio-go orders a verb's attributes as
// a map does, so two renderings of one instruction may differ in that order: a kept answer is
// also the same bytes as the first.)
func TestRenderedAnswersAreKeptByWhatTheyAreRenderedFrom(t *testing.T) {
	s := &server{rendered: fifo.New[renderKey, []byte](16, renderedAge)}
	answer := func(ins taskrouter.Instruction, recorded bool) string {
		t.Helper()
		if recorded {
			s.Caller = &CallerConfig{RecordCalls: true}
			s.PublicBaseURL = "https://bridge.example.com"
		} else {
			s.Caller = nil
		}
		rec := httptest.NewRecorder()
		c := echo.New().NewContext(httptest.NewRequest(http.MethodPost, "/dial-queue", nil), rec)
		require.NoError(t, s.twimlResponse(c, ins, legRequest{reservation: ins.ReservationSID, task: "WT00000000000000000000000000000001"}))
		body := rec.Body.String()
		assert.Contains(t, body, `reservationSid="`+ins.ReservationSID+`"`)
		assert.Equal(t, recorded, strings.Contains(body, `record="`+RecordedDial+`"`), body)
		return body
	}
	connect := taskrouter.Instruction{Kind: taskrouter.Connect, ReservationSID: "WR00000000000000000000000000000001", ActionURL: "https://bridge.example.com/dial-queue?reservation=WR00000000000000000000000000000001"}
	first := answer(connect, false)
	assert.Equal(t, 1, s.rendered.Len())
	assert.Equal(t, first, answer(connect, false), "the retry")
	assert.Equal(t, 1, s.rendered.Len(), "the retry rendered nothing new")

	other := connect
	other.ReservationSID = "WR00000000000000000000000000000002"
	assert.NotEqual(t, first, answer(other, false))
	whisper := connect
	whisper.Whisper = "A caller for sales."
	assert.Contains(t, answer(whisper, false), "A caller for sales.")
	assert.Contains(t, answer(connect, true), RecordedDial, "the same instruction, recorded")
	assert.Equal(t, 4, s.rendered.Len())
}
