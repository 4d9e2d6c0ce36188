package provision

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/handlers"
)

// flow.wait points the Enqueue Call widget's wait_url at the bridge's /queue-wait, with the
// wait's settings (and the flow's voice) in its query; a music path is resolved on the bridge.
func TestFlowWaitPointsTheWaitURLAtTheBridge(t *testing.T) {
	s := exampleSpec(t)
	s.Flow.Wait = &SpecWait{AnnounceEvery: 20, MusicURL: "/music/jazz.mp3", MusicSeconds: 40, VoicemailKey: "9"}
	require.NoError(t, s.Validate(testSettings()))
	p := s.FlowParams(testSettings(), "WW00000000000000000000000000000001")
	u, err := url.Parse(p.WaitURL)
	require.NoError(t, err)
	assert.Equal(t, "https://bridge.example.com"+handlers.PathWait, u.Scheme+"://"+u.Host+u.Path)
	assert.Equal(t, url.Values{"every": {"20"}, "music": {"https://bridge.example.com/music/jazz.mp3"}, "music_seconds": {"40"},
		"key": {"9"}, "voice": {"Polly.Joanna"}, "language": {"en-US"}}, u.Query())
	assert.True(t, strings.HasSuffix(p.WaitURL, handlers.Overrides), "with the connection overrides")
	w, err := handlers.ParseWaitSettings(u.Query())
	require.NoError(t, err)
	assert.Equal(t, s.waitSettings(testSettings()), w, "the bridge reads back what bootstrap wrote")

	s.Flow.Wait = nil
	s.Flow.Enqueue.WaitURL = "/hold"
	assert.Equal(t, "https://bridge.example.com/hold", s.FlowParams(testSettings(), "WW00000000000000000000000000000001").WaitURL)
}
