package taskrouter

import (
	"net/url"
	"testing"
)

//	go test ./taskrouter -run '^$' -bench ParseEvent

func BenchmarkParseEvent(b *testing.B) {
	for _, bc := range []struct {
		name string
		form url.Values
	}{
		{"reservation.created", reservationForm()},
		{"ignored", url.Values{"EventType": {"worker.activity.update"}, "Sid": {"EV00000000000000000000000000000001"},
			"WorkspaceSid": {testWS}, "WorkerSid": {testWK}, "WorkerAttributes": {`{"contact_uri":"+15551239999"}`}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseEvent(bc.form); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
