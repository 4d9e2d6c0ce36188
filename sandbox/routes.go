package sandbox

import (
	"net/http"

	"queuebridge/sandbox/internal/twilioapi"
)

// routes is the sandbox's whole HTTP surface: each Twilio API at the path twilio-go uses (the
// host is dropped by TWILIO_API_URL's rewrite), and the control surface under /sandbox/.
func (s *Sandbox) routes() http.Handler {
	mux := http.NewServeMux()

	taskRouter := s.tr.Handler()
	mux.Handle("/v1/Workspaces", taskRouter)
	mux.Handle("/v1/Workspaces/", taskRouter)

	mux.Handle("/2010-04-01/", s.voice.Handler())
	messages := s.msg.Handler() // more specific than Voice's /2010-04-01/
	mux.Handle("/2010-04-01/Accounts/{ac}/Messages.json", messages)
	mux.Handle("/2010-04-01/Accounts/{ac}/Messages/{file}", messages)

	studio := s.studio.Handler()
	mux.Handle("/v2/", studio)
	mux.Handle("/v1/Accounts/", studio) // flows' webhook_url and their continuations

	control := s.controlAuth(s.controlRoutes())
	mux.Handle("/sandbox", control)
	mux.Handle("/sandbox/", control)

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		twilioapi.WriteError(w, twilioapi.Errorf(http.StatusNotFound, 20404, "The requested resource %s was not found", r.URL.Path))
	})
	return mux
}

// controlRoutes lists the control surface: JSON in, JSON out, behind the sandbox's credentials.
func (s *Sandbox) controlRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sandbox", s.handleIndex)
	mux.HandleFunc("GET /sandbox/{$}", s.handleIndex)
	mux.HandleFunc("POST /sandbox/calls", s.handlePlaceCall)
	mux.HandleFunc("GET /sandbox/calls", s.handleListCalls)
	mux.HandleFunc("GET /sandbox/calls/{sid}", s.handleGetCall)
	mux.HandleFunc("PUT /sandbox/personas/{number}", s.handleSetPersona)
	mux.HandleFunc("POST /sandbox/numbers", s.handleSeedNumber)
	mux.HandleFunc("POST /sandbox/caller-ids", s.handleVerifyCallerID)
	mux.HandleFunc("PUT /sandbox/voice/webhook-faults", s.handleWebhookFaults)
	mux.HandleFunc("PUT /sandbox/voice/options", s.handleVoiceOptions)
	mux.HandleFunc("PUT /sandbox/taskrouter/options", s.handleTaskRouterOptions)
	mux.HandleFunc("GET /sandbox/tasks", s.handleListTasks)
	mux.HandleFunc("GET /sandbox/tasks/{sid}", s.handleGetTask)
	mux.HandleFunc("GET /sandbox/workers", s.handleListWorkers)
	mux.HandleFunc("GET /sandbox/timeline/{sid}", s.handleTimeline)
	mux.HandleFunc("GET /sandbox/events", s.handleEvents)
	mux.HandleFunc("GET /sandbox/messages", s.handleListMessages)
	mux.HandleFunc("PUT /sandbox/messaging/numbers/{number}", s.handleMessagingNumber)
	mux.HandleFunc("PUT /sandbox/messaging/opt-outs", s.handleOptOut)
	mux.HandleFunc("PUT /sandbox/messaging/options", s.handleMessagingOptions)
	// Known paths asked with another method: 405 naming the methods, not "no such route".
	for path, allow := range map[string]string{
		"/sandbox/calls": "GET, POST", "/sandbox/calls/{sid}": "GET", "/sandbox/personas/{number}": "PUT",
		"/sandbox/numbers": "POST", "/sandbox/caller-ids": "POST", "/sandbox/voice/webhook-faults": "PUT", "/sandbox/voice/options": "PUT", "/sandbox/taskrouter/options": "PUT", "/sandbox/tasks": "GET", "/sandbox/tasks/{sid}": "GET",
		"/sandbox/workers": "GET", "/sandbox/timeline/{sid}": "GET", "/sandbox/events": "GET",
		"/sandbox/messages": "GET", "/sandbox/messaging/numbers/{number}": "PUT", "/sandbox/messaging/opt-outs": "PUT",
		"/sandbox/messaging/options": "PUT",
	} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeControlError(w, http.StatusMethodNotAllowed, "%s %s: method not allowed (use %s)", r.Method, r.URL.Path, allow)
		})
	}
	mux.HandleFunc("/sandbox/", func(w http.ResponseWriter, r *http.Request) {
		writeControlError(w, http.StatusNotFound, "no such sandbox route: %s %s (GET /sandbox/ lists them)", r.Method, r.URL.Path)
	})
	return mux
}
