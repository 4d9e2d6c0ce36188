package taskrouter_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDomainImportsOnlyTheStandardLibrary holds the package map: the domain knows no client
// library, no database and no HTTP framework; adapters implement its interfaces.
func TestDomainImportsOnlyTheStandardLibrary(t *testing.T) {
	// go test puts its own toolchain's bin first in the test's PATH.
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "queuebridge/taskrouter").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, []string{"queuebridge/taskrouter"}, strings.Fields(string(out)),
		"the domain package may import only the standard library")
}
