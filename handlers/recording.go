package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"queuebridge/caller"
	"queuebridge/taskrouter"
)

// recordingCallback stores a bridged call's recording with its reservation and task.
func (s *server) recordingCallback(c echo.Context) error {
	form, err := s.verified(c)
	if err != nil {
		return err
	}
	q := c.Request().URL.Query()
	reservation, task := q.Get("reservation"), q.Get("task")
	if err := checkSIDs(map[string][2]string{
		"reservation": {reservation, taskrouter.PrefixReservation}, "task": {task, taskrouter.PrefixTask},
	}); err != nil {
		return err
	}
	r, err := caller.ParseRecordingStatus(form.Get)
	if err != nil {
		return err
	}
	log := s.Logger.With("reservation", reservation, "task", task, "call", r.CallSID, "recording", r.RecordingSID)
	if !r.Completed() {
		log.Info("call recording not kept", "status", r.Status)
		return c.NoContent(http.StatusNoContent)
	}
	rec := caller.CallRecording{
		RecordingSID: r.RecordingSID, ReservationSID: reservation, TaskSID: task, CallSID: r.CallSID,
		RecordingURL: r.RecordingURL, Duration: r.Duration, DurationSeconds: int(r.Duration.Seconds()),
		Channels: max(r.Channels, 1), ReceivedAt: s.Caller.now(),
	}
	if err := s.Caller.Recordings.SaveRecording(c.Request().Context(), rec); err != nil {
		return err
	}
	log.Info("call recording stored", "duration_s", rec.DurationSeconds, "channels", rec.Channels)
	if s.Caller.OnRecording != nil {
		s.Caller.OnRecording(c.Request().Context(), rec)
	}
	return c.NoContent(http.StatusNoContent)
}

// taskRecordings lists a task's recordings as JSON (operator token).
func (s *server) taskRecordings(c echo.Context) error {
	if err := s.operator(c); err != nil {
		return err
	}
	task := c.Param("task")
	if !taskrouter.ValidSID(task, taskrouter.PrefixTask) {
		return taskrouter.Errorf(taskrouter.EInvalid, "task %q is not a WT… SID", task)
	}
	list, err := s.Caller.Recordings.TaskRecordings(c.Request().Context(), task)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"task_sid": task, "recordings": list})
}
