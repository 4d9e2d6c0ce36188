package caller_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The caller side is domain code: the standard library and the taskrouter domain only.
func TestCallerImportsOnlyTheStandardLibraryAndTheDomain(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "queuebridge/caller").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.ElementsMatch(t, []string{"queuebridge/taskrouter", "queuebridge/caller"}, strings.Fields(string(out)))
}
