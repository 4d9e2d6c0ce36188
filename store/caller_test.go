package store

import (
	"path/filepath"
	"testing"

	"queuebridge/caller"
	"queuebridge/store/storetest"
)

func TestVoicemailConformance(t *testing.T) {
	storetest.RunVoicemails(t, func(t *testing.T) caller.VoicemailStore {
		return open(t, filepath.Join(t.TempDir(), "q.db"))
	})
}

func TestRecordingConformance(t *testing.T) {
	storetest.RunRecordings(t, func(t *testing.T) caller.RecordingStore {
		return open(t, filepath.Join(t.TempDir(), "q.db"))
	})
}

func TestSMSConformance(t *testing.T) {
	storetest.RunSMS(t, func(t *testing.T) caller.SMSStore {
		return open(t, filepath.Join(t.TempDir(), "q.db"))
	})
}
