package taskrouter

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExpressionEvaluation(t *testing.T) {
	var task, worker map[string]any
	require.NoError(t, json.Unmarshal([]byte(`{"type":"support","priority":3,"vip":true,"language":"es",
		"customer":{"tier":"gold","age":42},"tags":["billing","urgent"],"note":"call back tomorrow"}`), &task))
	require.NoError(t, json.Unmarshal([]byte(`{"skills":["support","billing"],"languages":["en","es"],
		"level":2,"name":"Alice Smith","team":"a","contact_uri":"+15550001"}`), &worker))

	cases := []struct {
		expr       string
		workerSide bool
		want       bool
	}{
		{"1==1", false, true},
		{"1 == 2", false, false},
		{`type == "support"`, false, true},
		{`type = 'support'`, false, true},
		{`type != "sales"`, false, true},
		{`type <> "support"`, false, false},
		{"priority > 2", false, true},
		{"priority >= 3", false, true},
		{"priority < 3", false, false},
		{"priority <= 3", false, true},
		{"vip == true", false, true},
		{"vip == false", false, false},
		{`customer.tier == "gold"`, false, true},
		{"customer.age > 40", false, true},
		{`task.type == "support"`, false, true},
		{`tags HAS "urgent"`, false, true},
		{`tags HAS "spam"`, false, false},
		{`language IN ["es", "pt"]`, false, true},
		{`language IN ['en']`, false, false},
		{`language NOT IN ['en', 'fr']`, false, true},
		{`tags IN ["urgent", "x"]`, false, true},
		{`note CONTAINS "back"`, false, true},
		{`note CONTAINS "Back"`, false, false},
		{`note NOT CONTAINS "never"`, false, true},
		{`type == "support" AND vip == true`, false, true},
		{`type == "support" and priority > 5`, false, false},
		{`type == "sales" OR vip == true`, false, true},
		{`type == "sales" || vip == false`, false, false},
		{`type == "support" && (priority > 5 || vip == true)`, false, true},
		{`(type == "sales" OR type == "support") AND language == "es"`, false, true},
		{`type == "sales" OR type == "support" AND language == "en"`, false, false},
		{`missing == "x"`, false, false},
		{`missing != "x"`, false, false},
		{`missing NOT IN ["x"]`, false, false},
		{`missing == null`, false, true},
		// Worker side: plain names are worker attributes, task. the task's, worker. the worker's.
		{`skills HAS "support"`, true, true},
		{`skills HAS task.type`, true, true},
		{`worker.skills HAS task.type`, true, true},
		{`languages HAS task.language`, true, true},
		{`task.language IN worker.languages`, true, true},
		{`level >= 2 AND team == "a"`, true, true},
		{`name CONTAINS "Smith"`, true, true},
		{`task.priority > level`, true, true},
		{`type == "support"`, true, false},
	}
	for _, c := range cases {
		t.Run(c.expr, func(t *testing.T) {
			e, err := parseExpr(c.expr)
			require.NoError(t, err)
			assert.Equal(t, c.want, e.eval(&exprEnv{workerSide: c.workerSide, task: task, worker: worker}))
		})
	}
}

func TestExpressionParseErrors(t *testing.T) {
	for _, src := range []string{
		`type ==`,
		`== "x"`,
		`type "x"`,
		`(type == "x"`,
		`type == "x")`,
		`type == "unterminated`,
		`type == "x" AND`,
		`type ! "x"`,
		`type & "x"`,
		`tags HAS [1, 2`,
		`type NOT "x"`,
		`type == "x" garbage`,
		`type # 1`,
	} {
		t.Run(src, func(t *testing.T) {
			_, err := parseExpr(src)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "expression")
		})
	}
}

func TestEmptyExpressionMatchesEverything(t *testing.T) {
	e, err := parseExpr("  ")
	require.NoError(t, err)
	assert.True(t, e.eval(&exprEnv{}))
}
