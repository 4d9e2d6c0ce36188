package taskrouter

import (
	"context"
	"time"
)

// State is where queuebridge's handling of a reservation stands.
type State string

// The reservation states. Pending → Dialing → Ringing → (Confirming →) Bridging → Accepted →
// Wrapping → Completed is a bridged call; Rejected and Canceled end every other path.
const (
	// StatePending: reservation.created is stored and a dial job is queued.
	StatePending State = "pending"
	// StateDialing: Calls.create is being (or was, before a crash) sent; no call SID yet.
	StateDialing State = "dialing"
	// StateRinging: the agent leg exists (its SID is stored) and has not been answered by a human.
	StateRinging State = "ringing"
	// StateConfirming: AMD heard a human (or could not tell, under UNKNOWN_ANSWER=connect) and,
	// with AGENT_CONFIRM_KEY set, the agent hears the whisper and must press the key: the caller
	// stays queued (the reservation is accepted only by the dequeue).
	StateConfirming State = "confirming"
	// StateBridging: a human answered and was given <Dial><Queue reservationSid>.
	StateBridging State = "bridging"
	// StateAccepted: TaskRouter reports the reservation accepted (the dequeue bridged the caller).
	StateAccepted State = "accepted"
	// StateWrapping: the bridged call ended; the task is being completed.
	StateWrapping State = "wrapping"
	// StateCompleted: the reservation (and the task) are completed.
	StateCompleted State = "completed"
	// StateRejected: queuebridge (or someone else) rejected the reservation; TaskRouter routes again.
	StateRejected State = "rejected"
	// StateCanceled: TaskRouter ended the reservation (task canceled, timeout, rescinded).
	StateCanceled State = "canceled"
)

// Open reports whether the reservation is still waiting for an agent's answer: TaskRouter may
// still cancel it, and queuebridge still owes it an accept or a reject.
func (s State) Open() bool {
	return s == StatePending || s == StateDialing || s == StateRinging || s == StateConfirming || s == StateBridging
}

// Reservation is queuebridge's record of one TaskRouter reservation and its agent leg.
type Reservation struct {
	SID          string
	TaskSID      string
	WorkspaceSID string
	WorkflowSID  string
	WorkerSID    string
	WorkerName   string
	// ContactURI is the agent leg's To; CallerID its From.
	ContactURI string
	CallerID   string
	State      State
	// CallSID is the agent leg, once Twilio has given it.
	CallSID    string
	CallStatus CallStatus
	AnsweredBy AnsweredBy
	// Outcome says why the reservation ended where it did.
	Outcome   Outcome
	CreatedAt time.Time
	UpdatedAt time.Time
	// DialingAt is when Calls.create was (last) sent: the lower bound for finding an orphan call.
	DialingAt time.Time
	// Deadline is when TaskRouter times the reservation out: retries stop there.
	Deadline time.Time
	// Department, CallerLast4 and EnqueuedAt are what the agent's whisper says of the task:
	// its "department" attribute (the IVR's menu), the last four digits of the caller's number
	// (the rest is never stored), and when the caller entered the queue (reservation.created's
	// time less its TaskAge).
	Department  string
	CallerLast4 string
	EnqueuedAt  time.Time
}

// JobKind is a side effect on Twilio that the dispatcher carries out, durably queued.
type JobKind string

// The jobs.
const (
	// JobDial places the agent leg (Calls.create with AMD).
	JobDial JobKind = "dial"
	// JobReject rejects the reservation so that TaskRouter routes the task again.
	JobReject JobKind = "reject"
	// JobHangup ends the agent leg: canceled while it rings, completed once answered.
	JobHangup JobKind = "hangup"
	// JobCompleteTask completes the task after wrap-up.
	JobCompleteTask JobKind = "complete_task"
	// JobRestWorker moves the worker of the job's reservation to REST_ACTIVITY: they missed
	// REST_AFTER_MISSES legs in a row (rest.go).
	JobRestWorker JobKind = "rest_worker"
	// JobReturnWorker brings a rested worker back to REST_RETURN_ACTIVITY after REST_COOLDOWN,
	// if they are still in REST_ACTIVITY.
	JobReturnWorker JobKind = "return_worker"
)

// Job is one queued side effect. Jobs are stored in the same transaction as the state change
// that needs them, so work acknowledged with a 2xx survives a crash.
type Job struct {
	ID             int64
	Kind           JobKind
	ReservationSID string
	// CallSID is the leg a hangup job ends.
	CallSID string
	// Attempts counts the tries so far.
	Attempts  int
	NotBefore time.Time
	// Deadline is when the job stops being worth doing (the reservation's deadline).
	Deadline time.Time
	LastErr  string
}

// Snapshot is what a store hands an update function: the reservation as stored, if any, and
// whether its task is known to be canceled.
type Snapshot struct {
	Reservation Reservation
	Found       bool
	// TaskCanceled is the reason the task was canceled, or "" when it was not (as far as we know).
	TaskCanceled string
}

// Change is what an update function decides: the new reservation (nil: nothing to store) and
// the jobs to queue with it.
type Change struct {
	Reservation *Reservation
	Jobs        []Job
}

// UpdateFunc decides a change from a snapshot. It runs inside the store's write transaction and
// must not do I/O.
type UpdateFunc func(Snapshot) (Change, error)

// Store keeps reservations, the outbox of jobs and the event SIDs already processed. Every
// update runs in one write transaction, serialized with every other update of the same
// reservation or task (SQLite serializes all writes; PostgreSQL locks), which makes each
// transition a compare-and-set, also between processes sharing the store.
type Store interface {
	// UpdateReservation applies fn to the reservation sid. taskSID, when given, is its task as the
	// caller knows it: it finds a canceled task for a reservation not stored yet, and a store that
	// locks the task (PostgreSQL) takes that lock with the first round trip when it is the stored
	// task (another one is corrected: the stored task is what counts). When eventSID is not
	// empty and was processed before, fn is not run and duplicate is true.
	UpdateReservation(ctx context.Context, sid, taskSID, eventSID string, fn UpdateFunc) (res Reservation, duplicate bool, err error)
	// UpdateTask applies fn to each stored reservation of the task, in one transaction. A
	// non-empty canceledReason also records the task as canceled, so that a late
	// reservation.created for it is not dialed.
	UpdateTask(ctx context.Context, taskSID, canceledReason, eventSID string, fn UpdateFunc) (duplicate bool, err error)
	// Reservation returns the stored reservation or ErrNotFound.
	Reservation(ctx context.Context, sid string) (Reservation, error)
	// CallOwner returns the SID of the reservation whose agent leg callSID is, or "".
	CallOwner(ctx context.Context, callSID string) (string, error)
	// TaskReservations returns the task's reservations, oldest first.
	TaskReservations(ctx context.Context, taskSID string) ([]Reservation, error)
	// OpenReservations returns up to limit reservations not yet over for the reconciler: open
	// (pending, dialing, ringing, bridging) or accepted, with an agent leg, created before
	// before, oldest first. One without a leg is left out: its dial job (in the outbox, leased)
	// resolves it, and a long run of them must not keep the reconciler from the reservations it
	// can check.
	OpenReservations(ctx context.Context, before time.Time, limit int) ([]Reservation, error)
	// PruneEvents forgets processed event SIDs recorded before before; it returns how many.
	PruneEvents(ctx context.Context, before time.Time) (int, error)

	// ClaimJobs marks up to limit due jobs as running, leased until now+lease, and returns
	// them. A job still running when its lease ends (its process died, or the store refused
	// the write that would have finished or rescheduled it) is due again, one attempt more.
	ClaimJobs(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Job, error)
	// FinishJob removes a job that is done (or given up, with why).
	FinishJob(ctx context.Context, id int64, outcome string) error
	// RetryJob puts a job back to run again at notBefore.
	RetryJob(ctx context.Context, id int64, notBefore time.Time, lastErr string) error
	// ExtendLeases moves the leases of the running jobs ids to until (never back): the process
	// running them is alive, and no other claims them while they run. A job that is no longer
	// running (finished, rescheduled) is left alone.
	ExtendLeases(ctx context.Context, ids []int64, until time.Time) error
	// ResumeJobs puts back jobs left running by a process that stopped; it returns how many. A
	// store shared by several processes puts back only the jobs whose lease has ended: the
	// others are being run by a live process.
	ResumeJobs(ctx context.Context) (int, error)
	// NextJobAt returns when the earliest queued job is due or running job's lease ends, if any.
	NextJobAt(ctx context.Context) (time.Time, bool, error)
	// PendingJobs counts queued and running jobs (the outbox depth).
	PendingJobs(ctx context.Context) (int, error)

	// UpdateWorker applies fn to the worker's record (the zero record, found false, when none
	// is stored) in one write transaction, serialized with every other update of the same
	// worker, and stores what it decides with its jobs; it returns the record as stored.
	UpdateWorker(ctx context.Context, workerSID string, fn WorkerUpdateFunc) (WorkerRecord, error)

	// Ping checks that the store can be reached (for /readyz).
	Ping(ctx context.Context) error
}

// JobSignal is what a store shared by several processes may offer the dispatcher: a channel
// that receives a value when another process queued jobs (and whenever jobs may have been
// queued unnoticed, e.g. after the store reconnected), so that an idle dispatcher claims them at
// once instead of at its next timer. The dispatcher uses it when its store implements it.
type JobSignal interface {
	JobsQueued() <-chan struct{}
}

// WorkerRecord is queuebridge's durable record of one worker's recent agent legs: what decides
// when they are rested (REST_AFTER_MISSES).
type WorkerRecord struct {
	SID string
	// Misses counts the worker's consecutive missed legs since their last bridged call or rest.
	Misses int
	// LastReservation is the reservation counted last: a job run again counts it once.
	LastReservation string
	// RestedAt is when the worker was last rested (zero: never).
	RestedAt  time.Time
	UpdatedAt time.Time
}

// WorkerChange is what a WorkerUpdateFunc decides: the record to store (nil: nothing) and the
// jobs to queue with it.
type WorkerChange struct {
	Worker *WorkerRecord
	Jobs   []Job
}

// WorkerUpdateFunc decides a change of a worker's record. It runs inside the store's write
// transaction and must not do I/O.
type WorkerUpdateFunc func(w WorkerRecord, found bool) (WorkerChange, error)

// CallRequest is the agent leg to place.
type CallRequest struct {
	To             string
	From           string
	URL            string
	StatusCallback string
	// MachineDetection is Enable or DetectMessageEnd; empty disables AMD.
	MachineDetection   string
	Timeout            int // ring seconds
	AMDTimeout         int // MachineDetectionTimeout, seconds; 0 = Twilio's default
	SpeechThreshold    int // ms; 0 = default
	SpeechEndThreshold int // ms; 0 = default
	SilenceTimeout     int // ms; 0 = default
}

// CallInfo is what a call lookup returns.
type CallInfo struct {
	SID       string
	To        string
	From      string
	Status    CallStatus
	CreatedAt time.Time
}

// Voice is what the bridge needs of Twilio Programmable Voice.
type Voice interface {
	// PlaceCall creates the agent leg and returns its SID.
	PlaceCall(ctx context.Context, req CallRequest) (callSID string, err error)
	// EndCall sets the call's status: canceled (ends a queued or ringing call) or completed
	// (hangs up a live one), and returns the call's status after the request. Twilio answers a
	// cancel of an answered call with 200 and changes nothing: the status says so.
	EndCall(ctx context.Context, callSID string, status CallStatus) (CallStatus, error)
	// FindCalls lists the calls to → from that are queued or started at or after since (to find
	// the leg of an interrupted dial).
	FindCalls(ctx context.Context, to, from string, since time.Time) ([]CallInfo, error)
	// FetchCall reads one call's status (the reconciler's view of a leg).
	FetchCall(ctx context.Context, callSID string) (CallInfo, error)
}

// Router is what the bridge needs of TaskRouter.
type Router interface {
	// RejectReservation rejects a pending reservation; activitySID, when set, becomes the worker's activity.
	RejectReservation(ctx context.Context, workspaceSID, taskSID, reservationSID, activitySID string) error
	// CompleteTask completes an assigned or wrapping task.
	CompleteTask(ctx context.Context, workspaceSID, taskSID, reason string) error
	// ReservationStatus reads a reservation's status at TaskRouter (pending, accepted, rejected,
	// timeout, canceled, rescinded, wrapping, completed).
	ReservationStatus(ctx context.Context, workspaceSID, taskSID, reservationSID string) (string, error)
	// WorkerActivity reads the worker's current activity SID.
	WorkerActivity(ctx context.Context, workspaceSID, workerSID string) (string, error)
	// SetWorkerActivity moves the worker to the activity.
	SetWorkerActivity(ctx context.Context, workspaceSID, workerSID, activitySID string) error
}
