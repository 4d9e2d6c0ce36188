package operator_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/operator"
	"queuebridge/taskrouter"
)

const token = "operator-token-for-tests-0123456789"

// newServer serves the page's routes as handlers/routes.go mounts them, over a model that
// already shows a caller and an agent (so a refusal can be checked for leaks).
func newServer(t *testing.T, access operator.Access) (*operator.Model, *operator.Server, http.Handler) {
	t.Helper()
	m := operator.NewModel(operator.ModelOptions{})
	m.Observe(taskrouter.Event{Type: taskrouter.EventTaskCreated, TaskSID: task, TaskAttributes: map[string]any{"from": caller}})
	m.Transition(taskrouter.Reservation{}, taskrouter.Reservation{SID: resA, TaskSID: task, WorkerSID: carol, WorkerName: "Carol",
		ContactURI: carolNo, State: taskrouter.StateRinging, CallStatus: taskrouter.CallRinging})
	s := operator.NewServer(m, access, slog.New(slog.NewTextHandler(io.Discard, nil)))
	mux := http.NewServeMux()
	mux.Handle("GET "+operator.PathPage, s.Page())
	mux.Handle("GET "+operator.PathEvents, s.Events())
	mux.Handle("POST "+operator.PathLogin, s.Login())
	mux.Handle("POST "+operator.PathLogout, s.Logout())
	t.Cleanup(m.Close)
	return m, s, mux
}

func get(h http.Handler, path string, set func(*http.Request)) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080"+path, nil)
	req.RemoteAddr = "127.0.0.1:50000"
	if set != nil {
		set(req)
	}
	w := httptest.NewRecorder()
	if path == operator.PathEvents {
		// The stream would run until its request ends: end it at once, the answer is what counts.
		ctx, cancel := contextDone()
		defer cancel()
		req = req.WithContext(ctx)
	}
	h.ServeHTTP(w, req)
	return w
}

// sessionCookie logs in through the form and returns the cookie it sets.
func sessionCookie(t *testing.T, h http.Handler) *http.Cookie {
	t.Helper()
	w := postLogin(h, token, "http://127.0.0.1:8080")
	require.Equal(t, http.StatusSeeOther, w.Code, w.Body.String())
	cookies := w.Result().Cookies()
	require.Len(t, cookies, 1)
	return cookies[0]
}

func postLogin(h http.Handler, tok, origin string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080"+operator.PathLogin, strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

// leaks lists what of the model's state a body shows.
func leaks(body string) []string {
	var found []string
	for _, s := range []string{"Carol", "0002", "0103", task, resA, carol, "WT0", "WR0", "WK0", "Sales"} {
		if strings.Contains(body, s) {
			found = append(found, s)
		}
	}
	return found
}

// The page and its stream open with the token, as a bearer header or the login form's cookie,
// and with nothing else: a wrong token, a wrong cookie, the token itself as a cookie, or
// nothing at all answers 401 and shows nothing of the state.
func TestTheOperatorTokenOpensThePageAndNothingElseDoes(t *testing.T) {
	_, _, h := newServer(t, operator.Access{Token: token})
	session := sessionCookie(t, h)
	assert.NotContains(t, session.Value, token, "the cookie holds a value derived from the token, not the token")
	for _, tc := range []struct {
		name string
		set  func(*http.Request)
		want int
	}{
		{"absent", nil, http.StatusUnauthorized},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }, http.StatusOK},
		{"wrong bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token+"x") }, http.StatusUnauthorized},
		{"basic scheme", func(r *http.Request) { r.Header.Set("Authorization", "Basic "+token) }, http.StatusUnauthorized},
		{"cookie", func(r *http.Request) { r.AddCookie(session) }, http.StatusOK},
		{"wrong cookie", func(r *http.Request) {
			r.AddCookie(&http.Cookie{Name: operator.CookieName, Value: strings.Repeat("0", 64)})
		}, http.StatusUnauthorized},
		{"the token as the cookie", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: operator.CookieName, Value: token}) }, http.StatusUnauthorized},
	} {
		for _, path := range []string{operator.PathPage, operator.PathEvents} {
			t.Run(tc.name+" "+path, func(t *testing.T) {
				w := get(h, path, tc.set)
				assert.Equal(t, tc.want, w.Code)
				if tc.want == http.StatusUnauthorized {
					assert.Empty(t, leaks(w.Body.String()), "a refusal shows nothing of the state")
					assert.Equal(t, `Bearer realm="queuebridge operator"`, w.Header().Get("WWW-Authenticate"))
					return
				}
				if path == operator.PathEvents {
					assert.Equal(t, "text/event-stream", w.Header().Get("Content-Type"))
					assert.Contains(t, w.Body.String(), "event: snapshot\ndata: ")
					assert.Contains(t, w.Body.String(), "Carol", "the snapshot shows the state")
				}
			})
		}
	}
}

// The login form sets an HttpOnly, SameSite=Strict cookie for the page's paths; a wrong token
// or a form posted from another site sets none.
func TestLoginSetsAStrictHttpOnlyCookie(t *testing.T) {
	_, _, h := newServer(t, operator.Access{Token: token})
	c := sessionCookie(t, h)
	assert.Equal(t, operator.CookieName, c.Name)
	assert.True(t, c.HttpOnly)
	assert.Equal(t, http.SameSiteStrictMode, c.SameSite)
	assert.Equal(t, operator.PathPage, c.Path)

	wrong := postLogin(h, "not-the-token-at-all-0000", "http://127.0.0.1:8080")
	assert.Equal(t, http.StatusUnauthorized, wrong.Code)
	assert.Empty(t, wrong.Result().Cookies())
	assert.Contains(t, wrong.Body.String(), "That is not the operator token.")
	assert.Empty(t, leaks(wrong.Body.String()))

	foreign := postLogin(h, token, "https://evil.example")
	assert.Equal(t, http.StatusForbidden, foreign.Code)
	assert.Empty(t, foreign.Result().Cookies())

	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080"+operator.PathLogout, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	require.Len(t, w.Result().Cookies(), 1)
	assert.Equal(t, -1, w.Result().Cookies()[0].MaxAge, "log out clears the cookie")
}

// In sandbox mode without a token the page opens to the machine itself only: a request from
// loopback that names a loopback host. Another host name (a DNS-rebinding page) or another
// address is refused; with no token and not open, nothing opens it.
func TestWithoutATokenThePageOpensOnlyOnLoopbackInSandboxMode(t *testing.T) {
	_, _, open := newServer(t, operator.Access{OpenOnLoopback: true})
	_, _, closed := newServer(t, operator.Access{})
	for _, tc := range []struct {
		name         string
		h            http.Handler
		remote, host string
		want         int
	}{
		{"loopback", open, "127.0.0.1:5000", "127.0.0.1:8080", http.StatusOK},
		{"localhost", open, "[::1]:5000", "localhost:8080", http.StatusOK},
		{"rebinding host name", open, "127.0.0.1:5000", "evil.example:8080", http.StatusUnauthorized},
		{"another address", open, "192.0.2.7:5000", "127.0.0.1:8080", http.StatusUnauthorized},
		{"not open", closed, "127.0.0.1:5000", "127.0.0.1:8080", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := get(tc.h, operator.PathPage, func(r *http.Request) { r.RemoteAddr, r.Host = tc.remote, tc.host })
			assert.Equal(t, tc.want, w.Code)
			if w.Code == http.StatusOK {
				assert.NotContains(t, w.Body.String(), "Log out", "no token: nothing to log out of")
			} else {
				assert.Empty(t, leaks(w.Body.String()))
			}
		})
	}
}

// The page is self-contained: its CSS and JavaScript are inline and the only ones the
// Content-Security-Policy allows (by hash), and it loads nothing from elsewhere.
func TestThePageRunsOnlyItsOwnInlineCode(t *testing.T) {
	_, _, h := newServer(t, operator.Access{Token: token})
	w := get(h, operator.PathPage, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) })
	require.Equal(t, http.StatusOK, w.Code)
	body, csp := w.Body.String(), w.Header().Get("Content-Security-Policy")
	assert.Contains(t, csp, "default-src 'none'")
	for _, tag := range []string{"script", "style"} {
		m := regexp.MustCompile(`(?s)<`+tag+`>(.*?)</`+tag+`>`).FindAllStringSubmatch(body, -1)
		require.Len(t, m, 1, tag)
		sum := sha256.Sum256([]byte(m[0][1]))
		assert.Contains(t, csp, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'", "the CSP allows the inline %s", tag)
	}
	assert.NotRegexp(t, `(src|href)="https?:`, body, "nothing from the internet")
	assert.Contains(t, body, `<th scope="col">Caller</th>`)
	assert.Contains(t, body, `aria-live="polite"`)
	assert.Contains(t, body, "Log out")
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
}

// The stream outlives the HTTP server's read and write time-outs (the bridge's are 10 s and
// 15 s), beats while idle, carries each change as a patch, and ends when the model closes
// (shutdown must not wait for open pages).
func TestTheStreamOutlivesServerTimeoutsAndEndsOnClose(t *testing.T) {
	m, s, h := newServer(t, operator.Access{Token: token})
	s.Heartbeat = 50 * time.Millisecond
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)

	req, err := http.NewRequest(http.MethodGet, srv.URL+operator.PathEvents, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	lines := make(chan string, 256)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func(prefix string) string {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				require.True(t, ok, "the stream ended while waiting for %q", prefix)
				if strings.HasPrefix(l, prefix) {
					return l
				}
			case <-deadline:
				t.Fatalf("no %q within 5 s", prefix)
			}
		}
	}
	start := time.Now()
	next("event: snapshot")
	for time.Since(start) < 600*time.Millisecond { // past both server time-outs, beating
		next(": keep-alive")
	}
	m.Observe(taskrouter.Event{Type: taskrouter.EventTaskQueueEntered, TaskSID: task, TaskQueueName: "Support"})
	next("event: patch")
	assert.Contains(t, next("data: "), `"queue":"Support"`)

	m.Close()
	for range lines {
	}
	assert.Equal(t, 0, m.Streams())
}

// Off answers 404 and says how to turn the page on.
func TestOffSaysHowToTurnThePageOn(t *testing.T) {
	w := get(operator.Off(), operator.PathPage, nil)
	assert.Equal(t, http.StatusNotFound, w.Code)
	assert.Contains(t, w.Body.String(), "OPERATOR_TOKEN")
}

// contextDone is a request context already ended.
func contextDone() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx, cancel
}
