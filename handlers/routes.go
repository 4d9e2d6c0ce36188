package handlers

import (
	"time"

	"github.com/labstack/echo/v4"
)

// routes lists every route of the server. The paths are a contract: Twilio is configured with them.
func (s *server) routes(e *echo.Echo) {
	e.Use(s.observe)
	e.POST(PathEvents, s.events)
	e.POST(PathDialQueue, s.dialQueue)
	e.POST(PathStatusCallback, s.statusCallback)
	e.POST(PathAgentConfirm, s.agentConfirm)
	s.callerRoutes(e)
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	if s.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(s.Metrics))
	}
	if o := s.Operator; o != nil {
		e.GET(PathOperator, echo.WrapHandler(o.Page))
		e.GET(PathOperatorEvents, echo.WrapHandler(o.Events))
		e.POST(PathOperatorLogin, echo.WrapHandler(o.Login))
		e.POST(PathOperatorLogout, echo.WrapHandler(o.Logout))
	}
}

// observe reports each request's route, status and duration to Config.Observe.
func (s *server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	if s.Observe == nil {
		return next
	}
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		s.Observe(c.Path(), c.Response().Status, time.Since(start))
		return nil
	}
}
