package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"queuebridge/sandbox/twiliosig"
	"queuebridge/taskrouter"
)

//	go test ./handlers -run '^$' -bench 'Signature|RenderTwiML'

// BenchmarkSignature measures verified: reading the form body and checking X-Twilio-Signature,
// as every webhook does before anything else.
func BenchmarkSignature(b *testing.B) {
	const token, base = "0123456789abcdef0123456789abcdef", "https://bridge.example.com"
	s := &server{Config: Config{MaxBody: 64 << 10}, signer: newSigner(token, base)}
	e := echo.New()
	for _, bc := range []struct {
		name   string
		target string
		form   url.Values
	}{
		{"dial-queue", "/dial-queue?reservation=WR00000000000000000000000000000001&task=WT00000000000000000000000000000001",
			url.Values{"CallSid": {"CA00000000000000000000000000000001"}, "AccountSid": {"AC00000000000000000000000000000001"},
				"CallStatus": {"in-progress"}, "Direction": {"outbound-api"}, "AnsweredBy": {"human"}, "MachineDetectionDuration": {"1800"},
				"From": {"+15005550199"}, "To": {"+15005550101"}, "ApiVersion": {"2010-04-01"}}},
		{"reservation.created", "/taskrouter/events", url.Values{
			"EventType": {"reservation.created"}, "Sid": {"EV00000000000000000000000000000001"}, "AccountSid": {"AC00000000000000000000000000000001"},
			"WorkspaceSid": {"WS00000000000000000000000000000001"}, "ResourceType": {"reservation"}, "ResourceSid": {"WR00000000000000000000000000000001"},
			"TaskSid": {"WT00000000000000000000000000000001"}, "ReservationSid": {"WR00000000000000000000000000000001"},
			"WorkerSid": {"WK00000000000000000000000000000001"}, "WorkerName": {"alice"}, "WorkflowSid": {"WW00000000000000000000000000000001"},
			"TaskAttributes":   {`{"from":"+15005550199","to":"+15005550006","call_sid":"CA00000000000000000000000000000002","department":"sales"}`},
			"WorkerAttributes": {`{"contact_uri":"+15005550101","skills":["en","es"]}`}, "TimestampMs": {"1700000000123"},
			"EventDescription": {"Reservation WR00000000000000000000000000000001 created for Worker alice"}}},
	} {
		body, sig := bc.form.Encode(), twiliosig.Sign(token, base+bc.target, bc.form)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, bc.target, strings.NewReader(body))
				req.Header.Set("X-Twilio-Signature", sig)
				if _, err := s.verified(e.NewContext(req, nil)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRenderTwiML(b *testing.B) {
	for _, ins := range []taskrouter.Instruction{
		{Kind: taskrouter.Connect, ReservationSID: "WR00000000000000000000000000000001", PostWorkActivitySID: "WA00000000000000000000000000000001",
			ActionURL: "https://bridge.example.com/dial-queue?reservation=WR00000000000000000000000000000001&task=WT00000000000000000000000000000001"},
		{Kind: taskrouter.Hangup},
		{Kind: taskrouter.Goodbye, Message: taskrouter.MsgCallerGone},
	} {
		b.Run(string(ins.Kind), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := RenderTwiML(ins); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
