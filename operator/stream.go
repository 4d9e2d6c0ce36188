package operator

import (
	"encoding/json"
	"errors"
	"time"
)

// stream is one open page's queue of messages (Server-Sent Events, encoded once for every page).
// The model never waits for a page: a message that does not fit in the queue is dropped and the
// page marked behind; its writer then sends a fresh snapshot instead of what it missed.
type stream struct {
	msgs chan []byte
	// behind is signalled (once, buffered) when a message was dropped.
	behind chan struct{}
	// done is closed when the model closes (the server shuts down).
	done chan struct{}
}

// ErrTooManyStreams is returned when MaxStreams pages are open already.
var ErrTooManyStreams = errors.New("too many operator pages are open")

// errClosed is returned once the model was closed.
var errClosed = errors.New("the operator page is shutting down")

// subscribe opens a stream; its first message is the snapshot, encoded under the same lock as
// every patch, so the page misses nothing and sees nothing twice.
func (m *Model) subscribe() (*stream, []byte, error) {
	m.mu.Lock()
	switch {
	case m.closed:
		m.mu.Unlock()
		return nil, nil, errClosed
	case len(m.subs) >= m.opts.MaxStreams:
		m.mu.Unlock()
		return nil, nil, ErrTooManyStreams
	}
	s := &stream{msgs: make(chan []byte, streamBuffer), behind: make(chan struct{}, 1), done: make(chan struct{})}
	m.subs[s] = struct{}{}
	snap := m.snapshotLocked()
	m.mu.Unlock()
	return s, snapshotEvent(snap), nil
}

func (m *Model) unsubscribe(s *stream) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.subs, s)
}

// resync empties a stream that fell behind and returns a fresh snapshot to send in its place.
func (m *Model) resync(s *stream) []byte {
	m.mu.Lock()
	for drained := false; !drained; {
		select {
		case <-s.msgs:
		case <-s.behind:
		default:
			drained = true
		}
	}
	snap := m.snapshotLocked()
	m.mu.Unlock()
	return snapshotEvent(snap)
}

// snapshotEvent sorts and encodes a snapshot, outside the model's lock.
func snapshotEvent(s Snapshot) []byte {
	s.sort()
	data, err := json.Marshal(s)
	if err != nil {
		panic(err) // plain structs of strings and numbers: cannot fail
	}
	return sseEvent("snapshot", data)
}

// publish sends a patch to every open page, without ever waiting for one; past the patch
// budget it holds the change for the next coalesced snapshot instead. Called with the lock held.
func (m *Model) publish(p *Patch) {
	if p.empty() || len(m.subs) == 0 {
		return
	}
	if m.coalescing || !m.takeToken() {
		m.suppressed++
		if !m.coalescing {
			m.coalescing = true
			m.flushes = time.AfterFunc(m.opts.CoalesceEvery, m.flush)
		}
		return
	}
	data, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	m.sendAll(sseEvent("patch", data))
}

// sendAll queues msg for every page.
func (m *Model) sendAll(msg []byte) {
	for s := range m.subs {
		m.sendTo(s, msg)
	}
}

// sendTo queues msg for one page; a page whose queue is full is marked behind.
func (m *Model) sendTo(s *stream, msg []byte) {
	select {
	case s.msgs <- msg:
	default:
		select {
		case s.behind <- struct{}{}:
		default:
		}
	}
}

// takeToken spends one patch of the budget, refilled at PatchRate up to twice that.
func (m *Model) takeToken() bool {
	now := time.Now()
	m.tokens = min(2*m.opts.PatchRate, m.tokens+now.Sub(m.refilled).Seconds()*m.opts.PatchRate)
	m.refilled = now
	if m.tokens < 1 {
		return false
	}
	m.tokens--
	return true
}

// flush sends every page one snapshot holding the changes held back, encoded once for all.
// Changes held while it was encoded go into the next one; without any, patches resume.
func (m *Model) flush() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.suppressed = 0
	snap := m.snapshotLocked()
	pages := make([]*stream, 0, len(m.subs))
	for s := range m.subs {
		pages = append(pages, s)
	}
	m.mu.Unlock()
	m.spread(snapshotEvent(snap), pages)
}

// spread sends msg to the pages spreadGroup at a time, a group every spreadEvery, so that a
// coalesced snapshot (the largest message, to every page at once) does not take both cores
// from the webhooks in one burst; then it ends the flush. The model stays coalescing until the
// last group is sent, so no patch overtakes a page's snapshot.
func (m *Model) spread(msg []byte, pages []*stream) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	n := min(len(pages), spreadGroup)
	for _, s := range pages[:n] {
		if _, open := m.subs[s]; open {
			m.sendTo(s, msg)
		}
	}
	if rest := pages[n:]; len(rest) > 0 {
		m.flushes = time.AfterFunc(spreadEvery, func() { m.spread(msg, rest) })
		return
	}
	if m.suppressed > 0 {
		m.flushes = time.AfterFunc(m.opts.CoalesceEvery, m.flush)
		return
	}
	m.coalescing = false
}

// Close ends every stream (the server is shutting down: open pages must not hold it up) and
// refuses new ones.
func (m *Model) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.closed = true
	if m.flushes != nil {
		m.flushes.Stop()
	}
	for s := range m.subs {
		close(s.done)
	}
}

// Streams returns how many pages are open.
func (m *Model) Streams() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.subs)
}

// sseEvent frames one Server-Sent Event. JSON has no raw newline, so data is one line.
func sseEvent(name string, data []byte) []byte {
	msg := make([]byte, 0, len(name)+len(data)+16)
	msg = append(msg, "event: "...)
	msg = append(msg, name...)
	msg = append(msg, "\ndata: "...)
	msg = append(msg, data...)
	return append(msg, "\n\n"...)
}
