package operator

import (
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// Server serves the page, its event stream, and the login form, for one model.
type Server struct {
	model  *Model
	access Access
	log    *slog.Logger
	// Heartbeat is how often an idle stream sends a comment (proxies close silent connections,
	// and a page that went away is noticed); WriteTimeout bounds each write to a page.
	Heartbeat, WriteTimeout time.Duration
	// ResyncEvery is the least time between two snapshots sent to a page that keeps falling
	// behind: a snapshot costs the model a copy of every row, under its lock.
	ResyncEvery time.Duration
}

// NewServer returns the page's handlers over the model.
func NewServer(m *Model, a Access, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{model: m, access: a, log: log, Heartbeat: 15 * time.Second, WriteTimeout: 10 * time.Second,
		ResyncEvery: time.Second}
}

// headers every answer carries: nothing is cached, framed, sniffed or sent to another site as
// a referrer. (Not no-referrer: with it a browser posts the login form with Origin: null, which
// the login's same-origin check must refuse.)
func (s *Server) headers(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
}

// unauthorized answers 401 and says nothing of the page's state: to a browser, the login form.
func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request, html bool, message string) {
	s.headers(w)
	w.Header().Set("WWW-Authenticate", `Bearer realm="queuebridge operator"`)
	if !html {
		http.Error(w, "401 unauthorized: the operator token is required", http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write(loginPage(s.access.Token != "", message))
}

// Page serves GET /operator: the page, which then opens the stream.
func (s *Server) Page() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.access.allowed(r) {
			s.unauthorized(w, r, true, "")
			return
		}
		s.headers(w)
		w.Header().Set("Content-Security-Policy", pageCSP)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(operatorPage(s.access.Token != ""))
	})
}

// Login serves POST /operator/login: the form's token, checked in constant time, becomes an
// HttpOnly, SameSite=Strict cookie scoped to the page's paths.
func (s *Server) Login() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.access.sameOrigin(r) {
			s.headers(w)
			http.Error(w, "403 forbidden: the login form was posted from another site", http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		if err := r.ParseForm(); err != nil || !s.access.tokenMatches(r.PostFormValue("token")) {
			s.log.Info("operator login refused", "remote", r.RemoteAddr)
			s.unauthorized(w, r, true, "That is not the operator token.")
			return
		}
		http.SetCookie(w, &http.Cookie{Name: CookieName, Value: s.access.sessionValue(), Path: PathPage,
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.access.SecureCookie, MaxAge: 12 * 3600})
		s.headers(w)
		http.Redirect(w, r, PathPage, http.StatusSeeOther)
	})
}

// Logout serves POST /operator/logout: the cookie is cleared.
func (s *Server) Logout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: PathPage, MaxAge: -1,
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.access.SecureCookie})
		s.headers(w)
		http.Redirect(w, r, PathPage, http.StatusSeeOther)
	})
}

// The page's paths (handlers/routes.go mounts them).
const (
	PathPage   = "/operator"
	PathEvents = "/operator/events"
	PathLogin  = "/operator/login"
	PathLogout = "/operator/logout"
)

// Events serves GET /operator/events: a snapshot, then a patch per change, as Server-Sent
// Events. Each write has its own deadline, in place of the server's WriteTimeout (which would
// end every stream after 15 s), so a page that stops reading is dropped instead of holding a
// goroutine. (net/http lifts the ReadTimeout itself once the handler runs.)
func (s *Server) Events() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.access.allowed(r) {
			s.unauthorized(w, r, false, "")
			return
		}
		st, first, err := s.model.subscribe()
		if err != nil {
			s.headers(w)
			w.Header().Set("Retry-After", "10")
			http.Error(w, "503 service unavailable: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		defer s.model.unsubscribe(st)
		rc := http.NewResponseController(w)
		s.headers(w)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		if err := s.stream(rc, w, r, st, append([]byte("retry: 2000\n\n"), first...)); err != nil {
			s.log.Debug("operator stream ended", "remote", r.RemoteAddr, "err", err)
		}
	})
}

// stream writes first, then every message of st, until the page or the model goes away.
func (s *Server) stream(rc *http.ResponseController, w http.ResponseWriter, r *http.Request, st *stream, first []byte) error {
	write := func(msg []byte) error {
		if err := rc.SetWriteDeadline(time.Now().Add(s.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if _, err := w.Write(msg); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := write(first); err != nil {
		return err
	}
	beat := time.NewTicker(s.Heartbeat)
	defer beat.Stop()
	var resynced time.Time
	for {
		var msg []byte
		select {
		case <-r.Context().Done():
			return r.Context().Err()
		case <-st.done:
			return errClosed
		case <-st.behind:
			if err := s.waitToResync(r, st, resynced); err != nil {
				return err
			}
			msg, resynced = s.model.resync(st), time.Now()
		case m := <-st.msgs:
			msg = drain(m, st.msgs)
		case <-beat.C:
			msg = []byte(": keep-alive\n\n")
		}
		if err := write(msg); err != nil {
			return err
		}
	}
}

// waitToResync holds a page that fell behind again soon after its last snapshot until
// ResyncEvery has passed (what it is sent meanwhile is dropped: the snapshot replaces it).
func (s *Server) waitToResync(r *http.Request, st *stream, last time.Time) error {
	wait := s.ResyncEvery - time.Since(last)
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-r.Context().Done():
		return r.Context().Err()
	case <-st.done:
		return errClosed
	case <-t.C:
		return nil
	}
}

// drain appends the messages already queued behind first, so a burst is one write.
func drain(first []byte, msgs <-chan []byte) []byte {
	out := first
	for range streamBuffer {
		select {
		case m := <-msgs:
			if len(out) == len(first) {
				out = append([]byte(nil), first...)
			}
			out = append(out, m...)
		default:
			return out
		}
	}
	return out
}

// Off answers every route of the page while it is off: no token is configured outside sandbox mode.
func Off() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "404 not found: the operator page is off; set OPERATOR_TOKEN to turn it on", http.StatusNotFound)
	})
}
