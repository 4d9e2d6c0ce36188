package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"queuebridge/handlers"
)

// SSEReport is what the operator page's streams received while the load ran: each reader is
// a page that keeps up (a browser), each stalled client a page that never reads.
type SSEReport struct {
	Readers int `json:"readers"`
	Stalled int `json:"stalled"`
	// Patches and Snapshots count the events the readers received; a snapshot after a
	// reader's first is a coalesced one (the changes came faster than the page's patch
	// budget) or a resynchronisation (the reader fell behind and was sent the state).
	Patches   int64 `json:"patches"`
	Snapshots int64 `json:"snapshots"`
	Bytes     int64 `json:"bytes"`
	// Ended counts readers whose stream ended before the run did.
	Ended int64 `json:"ended_early"`
}

// sseClients are the operator page's streams held open during a run.
type sseClients struct {
	readers, stalled             int
	patches, snapshots, n, ended atomic.Int64
	cancel                       context.CancelFunc
	wg                           sync.WaitGroup
	held                         []*http.Response
}

// openStreams connects readers and stalled clients to the bridge's operator stream and waits
// until every reader has its first snapshot.
func openStreams(ctx context.Context, target, token string, readers, stalled int) (*sseClients, error) {
	ctx, cancel := context.WithCancel(ctx)
	c := &sseClients{readers: readers, stalled: stalled, cancel: cancel}
	client := &http.Client{Transport: &http.Transport{
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext, MaxIdleConnsPerHost: -1, DisableCompression: true,
	}}
	open := func() (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target+handlers.PathOperatorEvents, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err == nil && resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			err = fmt.Errorf("operator stream: %s (is OPERATOR_TOKEN the bridge's? -operator-token)", resp.Status)
		}
		return resp, err
	}
	first := make(chan error, readers)
	for range readers {
		resp, err := open()
		if err != nil {
			c.stop()
			return nil, err
		}
		c.wg.Add(1)
		go c.read(resp, first)
	}
	for range stalled {
		resp, err := open()
		if err != nil {
			c.stop()
			return nil, err
		}
		c.held = append(c.held, resp) // never read
	}
	deadline := time.After(30 * time.Second)
	for range readers {
		select {
		case err := <-first:
			if err != nil {
				c.stop()
				return nil, err
			}
		case <-deadline:
			c.stop()
			return nil, errors.New("operator streams: no snapshot within 30 s")
		}
	}
	return c, nil
}

// read counts one stream's events until the run ends.
func (c *sseClients) read(resp *http.Response, first chan<- error) {
	defer c.wg.Done()
	defer resp.Body.Close()
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	got := false
	for {
		line, err := r.ReadSlice('\n')
		c.n.Add(int64(len(line)))
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if !got {
				first <- fmt.Errorf("operator stream ended before its snapshot: %w", err)
			} else if resp.Request.Context().Err() == nil {
				c.ended.Add(1)
			}
			return
		}
		switch {
		case bytes.HasPrefix(line, []byte("event: snapshot")):
			c.snapshots.Add(1)
			if !got {
				got = true
				first <- nil
			}
		case bytes.HasPrefix(line, []byte("event: patch")):
			c.patches.Add(1)
		}
	}
}

// stop closes every stream and reports what the readers received.
func (c *sseClients) stop() SSEReport {
	c.cancel()
	for _, resp := range c.held {
		resp.Body.Close()
	}
	c.wg.Wait()
	return SSEReport{Readers: c.readers, Stalled: c.stalled, Patches: c.patches.Load(),
		Snapshots: c.snapshots.Load(), Bytes: c.n.Load(), Ended: c.ended.Load()}
}
