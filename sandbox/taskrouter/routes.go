package taskrouter

import (
	"net/http"

	"queuebridge/sandbox/internal/twilioapi"
)

// Handler serves TaskRouter's REST API, every /v1/Workspaces... path, behind Basic auth.
func (e *Engine) Handler() http.Handler {
	mux := http.NewServeMux()
	const ws = "/v1/Workspaces/{ws}"
	route := func(pattern string, fn handlerFunc) { mux.Handle(pattern, e.serve(fn)) }

	workspaceKind.routes(route, "/v1/Workspaces")
	activityKind.routes(route, ws+"/Activities")
	queueKind.routes(route, ws+"/TaskQueues")
	workerKind.routes(route, ws+"/Workers")
	reservationKind(true).routes(route, ws+"/Workers/{sid}/Reservations")
	workflowKind.routes(route, ws+"/Workflows")
	taskKind.routes(route, ws+"/Tasks")
	reservationKind(false).routes(route, ws+"/Tasks/{sid}/Reservations")
	route("GET "+ws+"/TaskChannels", e.channels)
	route("GET "+ws+"/TaskChannels/{sid}", e.channels)

	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		twilioapi.WriteError(w, twilioapi.Errorf(http.StatusNotFound, 20404, "The requested resource %s was not found", r.URL.Path))
	})

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := e.cfg.Credentials.Authenticate(r); err != nil {
			twilioapi.WriteError(w, err)
			return
		}
		mux.ServeHTTP(w, r)
	})
}
