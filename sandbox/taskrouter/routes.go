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
	route("GET "+ws, e.fetchWorkspace)
	route("POST "+ws, e.updateWorkspace)
	route("DELETE "+ws, e.deleteWorkspace)

	route("GET "+ws+"/Activities", e.listActivities)
	route("POST "+ws+"/Activities", e.createActivity)
	route("GET "+ws+"/Activities/{sid}", e.fetchActivity)
	route("POST "+ws+"/Activities/{sid}", e.updateActivity)
	route("DELETE "+ws+"/Activities/{sid}", e.deleteActivity)

	route("GET "+ws+"/TaskQueues", e.listQueues)
	route("POST "+ws+"/TaskQueues", e.createQueue)
	route("GET "+ws+"/TaskQueues/{sid}", e.fetchQueue)
	route("POST "+ws+"/TaskQueues/{sid}", e.updateQueue)
	route("DELETE "+ws+"/TaskQueues/{sid}", e.deleteQueue)

	route("GET "+ws+"/Workers", e.listWorkers)
	route("POST "+ws+"/Workers", e.createWorker)
	route("GET "+ws+"/Workers/{sid}", e.fetchWorker)
	route("POST "+ws+"/Workers/{sid}", e.updateWorker)
	route("DELETE "+ws+"/Workers/{sid}", e.deleteWorker)
	route("GET "+ws+"/Workers/{worker}/Reservations", e.listWorkerReservations)
	route("GET "+ws+"/Workers/{worker}/Reservations/{sid}", e.fetchWorkerReservation)
	route("POST "+ws+"/Workers/{worker}/Reservations/{sid}", e.updateWorkerReservation)

	route("GET "+ws+"/Workflows", e.listWorkflows)
	route("POST "+ws+"/Workflows", e.createWorkflow)
	route("GET "+ws+"/Workflows/{sid}", e.fetchWorkflow)
	route("POST "+ws+"/Workflows/{sid}", e.updateWorkflow)
	route("DELETE "+ws+"/Workflows/{sid}", e.deleteWorkflow)

	route("GET "+ws+"/Tasks", e.listTasks)
	route("POST "+ws+"/Tasks", e.createTaskREST)
	route("GET "+ws+"/Tasks/{sid}", e.fetchTask)
	route("POST "+ws+"/Tasks/{sid}", e.updateTask)
	route("DELETE "+ws+"/Tasks/{sid}", e.deleteTask)
	route("GET "+ws+"/Tasks/{task}/Reservations", e.listTaskReservations)
	route("GET "+ws+"/Tasks/{task}/Reservations/{sid}", e.fetchTaskReservation)
	route("POST "+ws+"/Tasks/{task}/Reservations/{sid}", e.updateTaskReservation)

	route("GET "+ws+"/TaskChannels", e.listChannels)
	route("GET "+ws+"/TaskChannels/{sid}", e.fetchChannel)

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
