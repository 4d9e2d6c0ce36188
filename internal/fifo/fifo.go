// Package fifo is a bounded map that forgets its oldest keys first: the in-process caches of
// the hot path (the SQLite store's reservations, the handlers' rendered TwiML) keep the recent
// entries a retried request asks for, in bounded memory.
package fifo

import (
	"sync"
	"time"
)

// Cache maps keys to values, forgetting the key added longest ago when it holds its capacity or
// when that key is older than its maximum age (checked as keys are added: what a cache does not
// need it frees once it is in use again). Updating a key keeps its place. It is safe for
// concurrent use.
type Cache[K comparable, V any] struct {
	mu     sync.Mutex
	maxAge time.Duration
	now    func() time.Time
	m      map[K]V
	ring   []entry[K] // keys in the order they were added, from head, count of them
	head   int
	count  int
}

type entry[K comparable] struct {
	key K
	at  time.Time
}

// New returns a cache that holds at most capacity keys (at least one), each for at least maxAge
// unless the capacity is reached first (0: no age limit).
func New[K comparable, V any](capacity int, maxAge time.Duration) *Cache[K, V] {
	capacity = max(capacity, 1)
	return &Cache[K, V]{maxAge: maxAge, now: time.Now, m: make(map[K]V), ring: make([]entry[K], capacity)}
}

// Get returns the value of k and whether it is held.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	return v, ok
}

// Put sets the value of k.
func (c *Cache[K, V]) Put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok {
		now := c.now()
		for c.count > 0 && (c.count == len(c.ring) || (c.maxAge > 0 && now.Sub(c.ring[c.head].at) > c.maxAge)) {
			delete(c.m, c.ring[c.head].key)
			c.ring[c.head] = entry[K]{}
			c.head = (c.head + 1) % len(c.ring)
			c.count--
		}
		c.ring[(c.head+c.count)%len(c.ring)] = entry[K]{key: k, at: now}
		c.count++
	}
	c.m[k] = v
}

// Delete forgets k. Its place in the order is kept until it comes round: a key deleted and
// added again may be forgotten early (when its first place comes round), and the cache never
// holds more than its capacity.
func (c *Cache[K, V]) Delete(k K) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

// Len is how many keys are held.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
