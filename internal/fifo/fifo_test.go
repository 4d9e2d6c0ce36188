package fifo

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestTheOldestKeyIsForgottenFirst(t *testing.T) {
	c := New[string, int](3, 0)
	c.Put("a", 1)
	c.Put("b", 2)
	c.Put("c", 3)
	c.Put("a", 10) // an update keeps a's place: it is still the oldest
	c.Put("d", 4)
	_, ok := c.Get("a")
	assert.False(t, ok, "a was added first and forgotten when d came")
	for k, want := range map[string]int{"b": 2, "c": 3, "d": 4} {
		v, ok := c.Get(k)
		assert.True(t, ok, k)
		assert.Equal(t, want, v, k)
	}
	assert.Equal(t, 3, c.Len())
	c.Put("e", 5)
	_, ok = c.Get("b")
	assert.False(t, ok, "b is the oldest next")
	assert.Equal(t, 3, c.Len())
}

func TestADeletedKeyIsGoneAndTheCacheNeverHoldsMore(t *testing.T) {
	c := New[int, int](2, 0)
	c.Put(1, 1)
	c.Delete(1)
	_, ok := c.Get(1)
	assert.False(t, ok)
	for i := range 10 {
		c.Put(i%3, i)
		assert.LessOrEqual(t, c.Len(), 2)
	}
	v, ok := c.Get(0) // 9 was put last under key 0
	assert.True(t, ok)
	assert.Equal(t, 9, v)
}

func TestACapacityBelowOneHoldsOne(t *testing.T) {
	c := New[int, int](0, 0)
	c.Put(1, 1)
	c.Put(2, 2)
	_, ok := c.Get(1)
	assert.False(t, ok)
	v, _ := c.Get(2)
	assert.Equal(t, 2, v)
}

func TestKeysOlderThanTheMaximumAgeAreForgottenAsKeysAreAdded(t *testing.T) {
	now := time.Unix(1000, 0)
	c := New[string, int](100, time.Minute)
	c.now = func() time.Time { return now }
	c.Put("a", 1)
	now = now.Add(30 * time.Second)
	c.Put("b", 2)
	now = now.Add(31 * time.Second) // a is 61 s old, b 31 s
	c.Put("a", 10)                  // an update: nothing is added, nothing forgotten
	v, ok := c.Get("a")
	assert.True(t, ok)
	assert.Equal(t, 10, v)
	c.Put("c", 3)
	_, ok = c.Get("a")
	assert.False(t, ok, "a is older than a minute when c is added")
	_, ok = c.Get("b")
	assert.True(t, ok, "b is younger")
	assert.Equal(t, 2, c.Len())
}
