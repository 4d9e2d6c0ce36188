package studio

import (
	"net/http"

	"queuebridge/sandbox/internal/twilioapi"
)

// Handler serves Studio's REST API under /v2/Flows (Basic auth) and the flows' webhooks under
// /v1/Accounts/{AC}/Flows/{FW} (X-Twilio-Signature).
func (e *Engine) Handler() http.Handler {
	mux := http.NewServeMux()
	rest := func(h http.HandlerFunc) http.Handler { return e.authenticated(h) }

	mux.Handle("POST /v2/Flows", rest(e.createFlow))
	mux.Handle("GET /v2/Flows", rest(e.listFlows))
	mux.Handle("POST /v2/Flows/Validate", rest(e.validateFlow))
	mux.Handle("GET /v2/Flows/{sid}", rest(e.fetchFlow))
	mux.Handle("POST /v2/Flows/{sid}", rest(e.updateFlow))
	mux.Handle("DELETE /v2/Flows/{sid}", rest(e.deleteFlow))
	mux.Handle("GET /v2/Flows/{sid}/Revisions", rest(e.listRevisions))
	mux.Handle("GET /v2/Flows/{sid}/Revisions/{revision}", rest(e.fetchRevision))
	mux.Handle("GET /v2/Flows/{sid}/Executions", rest(e.listExecutions))
	mux.Handle("GET /v2/Flows/{sid}/Executions/{execution}", rest(e.fetchExecution))
	mux.Handle("POST /v2/Flows/{sid}/Executions/{execution}", rest(e.updateExecution))
	mux.Handle("DELETE /v2/Flows/{sid}/Executions/{execution}", rest(e.deleteExecution))
	mux.Handle("GET /v2/Flows/{sid}/Executions/{execution}/Context", rest(e.fetchExecutionContext))
	mux.Handle("GET /v2/Flows/{sid}/Executions/{execution}/Steps", rest(e.listSteps))
	mux.Handle("GET /v2/Flows/{sid}/Executions/{execution}/Steps/{step}", rest(e.fetchStep))

	mux.Handle("/v2/", rest(func(w http.ResponseWriter, r *http.Request) {
		twilioapi.WriteError(w, twilioapi.Errorf(http.StatusNotFound, 20404, "The requested resource %s was not found", r.URL.Path))
	}))

	mux.Handle("/v1/Accounts/{account}/Flows/{sid}", e.signed(e.flowWebhook))
	mux.Handle("/v1/Accounts/{account}/Flows/{sid}/Executions/{execution}/Steps/{step}", e.signed(e.continueExecution))
	return mux
}

func (e *Engine) authenticated(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := e.cfg.Credentials.Authenticate(r); err != nil {
			twilioapi.WriteError(w, err)
			return
		}
		next(w, r)
	})
}
