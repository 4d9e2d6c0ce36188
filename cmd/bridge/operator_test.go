package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/handlers"
	"queuebridge/internal/testkit"
	"queuebridge/sandbox/voice"
)

// The operator page in a real browser: Debian's chromium, driven by chromedp, one browser for
// the package (a tab per test). Without chromium the tests skip, unless
// QUEUEBRIDGE_REQUIRE_CHROMIUM=1 (set by .ci/run) makes that a failure.

var shared struct {
	once    sync.Once
	ctx     context.Context // the browser; tabs are its children
	cancel  func()
	err     error
	userDir string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.cancel != nil {
		shared.cancel()
		os.RemoveAll(shared.userDir)
	}
	os.Exit(code)
}

func chromiumPath() string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browserTab opens a tab in the package's browser, started on first use.
func browserTab(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		if os.Getenv("QUEUEBRIDGE_REQUIRE_CHROMIUM") == "1" {
			t.Fatal("chromium is not installed and QUEUEBRIDGE_REQUIRE_CHROMIUM=1: apt-get install chromium")
		}
		t.Skip("chromium is not installed (apt-get install chromium): the operator page's browser test is skipped")
	}
	shared.once.Do(func() {
		shared.userDir, shared.err = os.MkdirTemp("", "queuebridge-chromium-")
		if shared.err != nil {
			return
		}
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
			chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
			chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
			chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
			chromedp.UserDataDir(shared.userDir), chromedp.WindowSize(1280, 1000))
		browser, cancelBrowser := chromedp.NewContext(alloc)
		shared.ctx, shared.cancel = browser, func() { cancelBrowser(); cancelAlloc() }
		shared.err = chromedp.Do(browser) // starts the browser (no deadline: it would stop the browser)
	})
	require.NoError(t, shared.err, "starting chromium")
	tab, cancel := chromedp.NewContext(shared.ctx)
	t.Cleanup(cancel)
	// The tab lives as long as the context of its first run: run it once without a deadline,
	// so that the deadlines of later steps end only those steps.
	require.NoError(t, chromedp.Do(tab), "opening a tab")
	return tab
}

// inTab runs browser steps with a deadline.
func inTab(t *testing.T, tab context.Context, limit time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, limit)
	defer cancel()
	require.NoError(t, chromedp.Do(ctx, steps...))
}

// runTab runs one browser action with a deadline and returns its value.
func runTab[T any](t *testing.T, tab context.Context, limit time.Duration, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, limit)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	require.NoError(t, err)
	return v
}

// evalTab evaluates a JavaScript expression in the tab.
func evalTab[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	return runTab(t, tab, 5*time.Second, chromedp.Evaluate[T](expr))
}

// pollTab evaluates expr until it is true, or fails after limit.
func pollTab(t *testing.T, tab context.Context, limit time.Duration, expr, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, limit+time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(limit)))
	require.NoError(t, err, "waiting for %s", what)
}

// live is true once the page has its snapshot and follows the stream.
const live = `document.getElementById('conn')?.dataset.state === 'live'`

// watchCalls records, in the page, every status each caller's row takes: a MutationObserver
// sees each change of the row's data-status (its old value) as the page applies the stream,
// so no state is missed however briefly it shows. __statuses(key) is the whole sequence.
const watchCalls = `(() => {
  window.__hist = {}; window.__rows = {}; window.__labels = {};
  const note = (tr) => {
    const key = tr.dataset.key, label = tr.cells[3].textContent, l = (window.__labels[key] ||= []);
    if (l[l.length - 1] !== label) l.push(label);
  };
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'childList') {
        for (const n of r.addedNodes) if (n.dataset && n.dataset.key) { window.__rows[n.dataset.key] = n; window.__hist[n.dataset.key] ||= []; note(n); }
      } else if (r.target.dataset.key) {
        (window.__hist[r.target.dataset.key] ||= []).push(r.oldValue);
        window.__rows[r.target.dataset.key] = r.target;
      }
    }
    for (const tr of document.querySelectorAll('#calls tbody tr')) note(tr);
  }).observe(document.querySelector('#calls tbody'), {subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'], attributeOldValue: true, characterData: true});
  window.__statuses = (key) => [...window.__hist[key], window.__rows[key].dataset.status];
  window.__marker = 'no reload';
  return true;
})()`

// A call placed in the sandbox goes waiting → ringing → human → bridged on the open page,
// without a reload, then ends among the last outcomes with today's counters moved.
func TestOperatorPageShowsACallGoWaitingRingingHumanBridged(t *testing.T) {
	t.Parallel()
	tab := browserTab(t)
	e := newE2EAt(t, 20, e2eSpec, nil)
	e.setAgents(map[string]voice.Persona{"Alice": voice.Human(3*time.Second, 4*time.Second),
		"Bob": voice.Human(3*time.Second, 4*time.Second), "Carol": voice.Human(3*time.Second, 4*time.Second)})
	inTab(t, tab, 20*time.Second, chromedp.Navigate(e.env.BridgeURL+handlers.PathOperator))
	pollTab(t, tab, 20*time.Second, live, "the page to be live")
	require.True(t, evalTab[bool](t, tab, watchCalls))

	caller := e.call(voice.Human(0, 20*time.Second))
	pollTab(t, tab, 20*time.Second, `Object.keys(window.__rows).some((k) => window.__statuses(k).includes('bridged'))`, "a bridged row")
	keys := evalTab[[]string](t, tab, `Object.keys(window.__rows)`)
	require.Len(t, keys, 1, "one caller, one row")
	statuses := evalTab[[]string](t, tab, fmt.Sprintf(`window.__statuses(%q)`, keys[0]))
	labels := evalTab[[]string](t, tab, fmt.Sprintf(`window.__labels[%q]`, keys[0]))
	marker := evalTab[string](t, tab, `window.__marker`)
	assert.Equal(t, "no reload", marker, "the page was never reloaded")
	assert.True(t, inOrder(statuses, "waiting", "ringing", "human", "bridged"), "statuses seen: %v", statuses)
	assert.Contains(t, labels, "talking with Alice", "labels seen: %v", labels)

	info := e.ended(caller)
	assert.Equal(t, info.TaskSid, keys[0], "the row is the caller's task")
	pollTab(t, tab, 20*time.Second, `document.querySelector('#recent tbody tr[data-result="bridged"]') !== null && !document.querySelector('#calls tbody tr')`,
		"the call among the last outcomes")
	recent := evalTab[string](t, tab, `document.querySelector('#recent tbody tr').textContent`)
	bridged := evalTab[string](t, tab, `document.getElementById('c-bridged').textContent`)
	human := evalTab[string](t, tab, `[...document.querySelectorAll('#verdicts tbody tr')].find((tr) => tr.cells[0].textContent === 'human').cells[1].textContent`)
	assert.Contains(t, recent, "bridged to Alice")
	assert.Contains(t, recent, "+1••••••", "the caller's number is masked")
	assert.NotContains(t, recent, info.From, "never the whole number")
	assert.Equal(t, "1", bridged)
	assert.Equal(t, "1", human)
}

// inOrder reports whether want appear in got in this order (other values may come between).
func inOrder(got []string, want ...string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// With OPERATOR_TOKEN set, the page and its stream answer 401 without it and show nothing of
// the state, in the browser and to a plain client; the login form lets the browser in with an
// HttpOnly cookie the page's script cannot read.
func TestOperatorPageWithoutTheTokenAnswers401AndLeaksNothing(t *testing.T) {
	t.Parallel()
	tab := browserTab(t)
	const token = "browser-test-operator-token-0123456789"
	e := newE2EAt(t, 50, e2eSpec, map[string]string{"OPERATOR_TOKEN": token})
	// The conversation lasts an hour of sandbox time (72 s at 50×): the logged-in page must still
	// find it bridged however slowly the browser gets there on a loaded machine.
	e.setAgents(map[string]voice.Persona{"Alice": voice.Human(time.Second, time.Hour)})
	caller := e.call(voice.Human(0, time.Hour))
	e.eventually(func() bool {
		s := e.env.App.Operator.Snapshot()
		return len(s.Calls) == 1 && s.Calls[0].Status == "bridged"
	}, "the page's state shows the bridged call")
	info, _ := e.env.Sandbox.Voice().Call(caller)
	secrets := []string{info.From, info.From[len(info.From)-4:], "Alice", "Bob", info.TaskSid, "WT", "WR", "WK", "talking", "Sales"}

	for _, path := range []string{handlers.PathOperator, handlers.PathOperatorEvents} {
		resp, err := http.Get(e.env.BridgeURL + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, path)
		assert.Empty(t, found(string(body), secrets), "%s leaks", path)
	}

	resp := runTab(t, tab, 20*time.Second, chromedp.NavigateResponse(e.env.BridgeURL+handlers.PathOperator))
	require.NotNil(t, resp)
	text := evalTab[string](t, tab, `document.body.innerText`)
	stream := runTab(t, tab, 10*time.Second, chromedp.Evaluate[string](`fetch('operator/events').then(async (r) => r.status + ' ' + await r.text())`, chromedp.EvalAwaitPromise))
	assert.Equal(t, int64(http.StatusUnauthorized), resp.Status)
	assert.Contains(t, text, "Operator token")
	assert.Empty(t, found(text, secrets), "the login page leaks")
	assert.True(t, strings.HasPrefix(stream, "401 "), stream)
	assert.Empty(t, found(stream, secrets), "the stream's refusal leaks")

	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	loggedIn, err := chromedp.RunResponse(ctx, chromedp.SendKeys(`#token`, token), chromedp.Submit(`#token`))
	require.NoError(t, err, "logging in")
	assert.Equal(t, int64(http.StatusOK), loggedIn.Status, "the form's redirect lands on the page")
	pollTab(t, tab, 20*time.Second, live+` && document.querySelector('#calls tbody tr[data-status="bridged"]') !== null`, "the page, logged in")
	assert.Empty(t, evalTab[string](t, tab, `document.cookie`), "the session cookie is HttpOnly")
}

func found(body string, secrets []string) []string {
	var out []string
	for _, s := range secrets {
		if s != "" && strings.Contains(body, s) {
			out = append(out, s)
		}
	}
	return out
}

// `go run ./cmd/bridge` in sandbox mode: the banner prints the page's URL, and the demo's six
// calls show up on it live: each ends among the last outcomes, today's counters add up, and
// the voicemail the last caller leaves is listed.
// With QUEUEBRIDGE_OPERATOR_SCREENSHOT=path the page is photographed while a call is live
// (docs/operator.png is made that way).
func TestOperatorPageShowsTheDemoLive(t *testing.T) {
	t.Parallel()
	tab := browserTab(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut testkit.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-env-file", "", "-port", "0", "-speed", "20"}, env(map[string]string{}), &out, &errOut)
	}()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, testkit.Receive(t, done, 30*time.Second, "run to return"), "stderr:\n%s", errOut.String())
	})
	pageURL := regexp.MustCompile(`The live operator page: (http://127\.0\.0\.1:\d+/operator) `)
	require.Eventually(t, func() bool { return pageURL.MatchString(out.String()) }, 60*time.Second, 10*time.Millisecond,
		"the banner prints the page's URL; stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	inTab(t, tab, 20*time.Second, chromedp.EmulateViewport(1280, 1000), chromedp.Navigate(pageURL.FindStringSubmatch(out.String())[1]))
	pollTab(t, tab, 20*time.Second, live, "the page to be live")

	if path := os.Getenv("QUEUEBRIDGE_OPERATOR_SCREENSHOT"); path != "" {
		// A moment worth showing: a call live on an agent's phone, and earlier calls' outcomes.
		pollTab(t, tab, 60*time.Second, `document.querySelectorAll('#recent tbody tr').length >= 2 &&
			document.querySelector('#calls tbody tr[data-status="ringing"], #calls tbody tr[data-status="amd"]') !== null`, "a live call after two ended")
		png := runTab(t, tab, 20*time.Second, chromedp.FullScreenshot(100))
		require.NoError(t, os.WriteFile(path, png, 0o644))
	}

	require.Eventually(t, func() bool { return strings.Contains(out.String(), "Still serving") }, 90*time.Second, 20*time.Millisecond,
		"the demo ends; stdout:\n%s", out.String())
	pollTab(t, tab, 20*time.Second, `document.querySelectorAll('#recent tbody tr').length === 6`, "the demo's six outcomes")
	results := evalTab[[]string](t, tab, `[...document.querySelectorAll('#recent tbody tr')].map((tr) => tr.dataset.result)`)
	counters := evalTab[[]string](t, tab, `['c-bridged', 'c-abandoned', 'c-voicemail'].map((id) => document.getElementById(id).textContent)`)
	slices.Sort(results)
	assert.Equal(t, []string{"abandoned", "bridged", "bridged", "bridged", "bridged", "voicemail"}, results)
	assert.Equal(t, []string{"4", "1", "1"}, counters, "bridged, abandoned, to voicemail")
	// The sixth caller's message is listed with its transcription and a link to the recording.
	pollTab(t, tab, 20*time.Second, `document.querySelectorAll('#voicemails tbody tr').length === 1 &&
		document.querySelector('#voicemails tbody tr').textContent.includes('Please call me back about my order.')`, "the voicemail and its transcription")
	link := evalTab[string](t, tab, `document.querySelector('#voicemails tbody tr a').getAttribute('href')`)
	assert.Regexp(t, `^https://api\.twilio\.com/2010-04-01/Accounts/AC\w+/Recordings/RE\w{32}$`, link)
}
