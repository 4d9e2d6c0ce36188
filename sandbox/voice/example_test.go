package voice_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/internal/twilioapi"
	"queuebridge/sandbox/voice"
)

// The engine as the sandbox wires it: a manual clock, one of the sandbox's numbers pointing at
// an application, and a caller persona dialing it.
func Example() {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<Response><Say>Thanks for calling</Say><Hangup/></Response>`)
	}))
	defer app.Close()

	clk := clock.NewManual(time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC))
	creds := twilioapi.Credentials{AccountSid: "AC0123456789abcdef0123456789abcdef", AuthToken: "0123456789abcdef0123456789abcdef"}
	engine := voice.New(voice.Config{Clock: clk, Credentials: creds})
	// The REST API: mount engine.Handler() under /2010-04-01/.
	api := httptest.NewServer(engine.Handler())
	defer api.Close()

	engine.SeedNumber("+15559990000", "support line")
	engine.SetVoiceURL("+15559990000", app.URL+"/incoming", "POST")
	engine.SetPersona("+15550002222", voice.Human(0, 30*time.Second))
	sid, err := engine.PlaceInboundCall(context.Background(), "+15550002222", "+15559990000")
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = engine.Settle(context.Background())
	clk.Advance(2 * time.Second) // "Thanks for calling" takes 1.2 s

	info, _ := engine.Call(sid)
	fmt.Println(info.Direction, info.Status, info.Duration)
	// Output: inbound completed 1s
}
