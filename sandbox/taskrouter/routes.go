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

	route("GET /v1/Workspaces", e.listWorkspaces)
	route("POST /v1/Workspaces", e.createWorkspace)
	route("GET "+ws, fetch(workspaceKind))
	route("POST "+ws, update(workspaceKind, workspaceParams, nil))
	route("DELETE "+ws, e.deleteWorkspace)

	route("GET "+ws+"/Activities", e.listActivities)
	route("POST "+ws+"/Activities", e.createActivity)
	route("GET "+ws+"/Activities/{sid}", fetch(activityKind))
	route("POST "+ws+"/Activities/{sid}", e.updateActivity)
	route("DELETE "+ws+"/Activities/{sid}", remove(activityKind, e.activityInUse))

	route("GET "+ws+"/TaskQueues", e.listQueues)
	route("POST "+ws+"/TaskQueues", e.createQueue)
	route("GET "+ws+"/TaskQueues/{sid}", fetch(queueKind))
	route("POST "+ws+"/TaskQueues/{sid}", update(queueKind, queueParams, e.queueUpdated))
	route("DELETE "+ws+"/TaskQueues/{sid}", remove(queueKind, e.queueInUse))

	route("GET "+ws+"/Workers", e.listWorkers)
	route("POST "+ws+"/Workers", e.createWorker)
	route("GET "+ws+"/Workers/{sid}", fetch(workerKind))
	route("POST "+ws+"/Workers/{sid}", e.updateWorker)
	route("DELETE "+ws+"/Workers/{sid}", remove(workerKind, e.workerInUse))
	route("GET "+ws+"/Workers/{worker}/Reservations", e.listReservations(true))
	route("GET "+ws+"/Workers/{worker}/Reservations/{sid}", e.reservation(true, nil))
	route("POST "+ws+"/Workers/{worker}/Reservations/{sid}", e.reservation(true, e.updateReservation))

	route("GET "+ws+"/Workflows", e.listWorkflows)
	route("POST "+ws+"/Workflows", e.createWorkflow)
	route("GET "+ws+"/Workflows/{sid}", fetch(workflowKind))
	route("POST "+ws+"/Workflows/{sid}", update(workflowKind, workflowParams, e.workflowUpdated))
	route("DELETE "+ws+"/Workflows/{sid}", remove(workflowKind, e.workflowInUse))

	route("GET "+ws+"/Tasks", e.listTasks)
	route("POST "+ws+"/Tasks", e.createTaskREST)
	route("GET "+ws+"/Tasks/{sid}", fetch(taskKind))
	route("POST "+ws+"/Tasks/{sid}", e.updateTask)
	route("DELETE "+ws+"/Tasks/{sid}", e.deleteTask)
	route("GET "+ws+"/Tasks/{task}/Reservations", e.listReservations(false))
	route("GET "+ws+"/Tasks/{task}/Reservations/{sid}", e.reservation(false, nil))
	route("POST "+ws+"/Tasks/{task}/Reservations/{sid}", e.reservation(false, e.updateReservation))

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
