package oaicheck

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckRejectsWrongShapeAndAcceptsRightOne(t *testing.T) {
	c, err := Load()
	require.NoError(t, err)
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/v1/Workspaces/WS00000000000000000000000000000000", nil)
	h := http.Header{"Content-Type": {"application/json"}}

	bad := []byte(`{"sid": 42}`)
	assert.Error(t, c.Check(context.Background(), req, 200, h, bad))

	good := []byte(`{"sid":"WS00000000000000000000000000000000","friendly_name":"x","date_created":"2026-01-01T00:00:00Z"}`)
	assert.NoError(t, c.Check(context.Background(), req, 200, h, good))

	unknown, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/nowhere", nil)
	assert.Error(t, c.Check(context.Background(), unknown, 200, h, good))
}
