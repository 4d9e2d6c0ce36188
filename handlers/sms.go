package handlers

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"queuebridge/caller"
)

// SMSDesk is what the SMS routes need of the caller side (caller.SMSSender).
type SMSDesk interface {
	ApplyStatus(ctx context.Context, st caller.SMSStatus) error
	ListSMS(ctx context.Context, limit int) ([]caller.SMS, error)
}

// smsStatus receives an SMS's status callbacks: the status is stored with the message, and an
// undelivered or failed one whose error code says the number cannot take SMS (30006 after a
// landline attempt) marks the number, which is never texted again.
func (s *server) smsStatus(c echo.Context) error {
	form, err := s.verified(c)
	if err != nil {
		return err
	}
	st, err := caller.ParseSMSStatus(form.Get)
	if err != nil {
		return err
	}
	if err := s.Caller.SMS.ApplyStatus(c.Request().Context(), st); err != nil {
		return err
	}
	s.Logger.Info("SMS status", "message", st.MessageSID, "status", st.Status, "error_code", st.ErrorCode)
	return c.NoContent(http.StatusNoContent)
}

// smsList lists the SMS afterwards, newest first, as JSON (?limit=, default 100).
func (s *server) smsList(c echo.Context) error {
	if err := s.operator(c); err != nil {
		return err
	}
	limit, err := listLimit(c)
	if err != nil {
		return err
	}
	list, err := s.Caller.SMS.ListSMS(c.Request().Context(), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"sms": list})
}
