package cache

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultSubscriberBuffer is how many events may wait for one subscriber
// before it is dropped.
const DefaultSubscriberBuffer = 256

// Hub fans the Bus's events out to subscribers. Each subscriber has its own
// bounded buffer; one that lets it fill is dropped with an error, so a slow
// client never delays the others or the Hub. Each event is allocated once and
// shared read-only by pointer: nothing is copied or encoded per subscriber
// here, and an idle subscriber's buffer is a few KB of pointers.
type Hub struct {
	bus    Bus
	buffer int
	log    *slog.Logger

	mu   sync.RWMutex
	subs map[*Subscription]struct{}
	seq  atomic.Uint64
}

// NewHub returns a Hub over bus; Run feeds it.
func NewHub(bus Bus, buffer int, log *slog.Logger) *Hub {
	if buffer <= 0 {
		buffer = DefaultSubscriberBuffer
	}
	return &Hub{bus: bus, buffer: buffer, log: log, subs: map[*Subscription]struct{}{}}
}

// Subscription is one subscriber's stream of matching events. C is closed
// when the subscription ends; Err then says why, if it was not Close.
type Subscription struct {
	C     <-chan *Event // shared with every subscriber: do not modify
	c     chan *Event
	match func(*Event) bool
	hub   *Hub
	err   error
	once  sync.Once
}

// Subscribe registers a subscriber for the events match accepts.
func (h *Hub) Subscribe(match func(*Event) bool) *Subscription {
	c := make(chan *Event, h.buffer)
	s := &Subscription{C: c, c: c, match: match, hub: h}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Subscribers counts the current subscribers.
func (h *Hub) Subscribers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs)
}

// Close ends the subscription.
func (s *Subscription) Close() { s.end(nil) }

// Err is why the Hub ended the subscription.
func (s *Subscription) Err() error {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	return s.err
}

func (s *Subscription) end(err error) {
	s.once.Do(func() {
		s.hub.mu.Lock()
		delete(s.hub.subs, s)
		s.err = err
		close(s.c)
		s.hub.mu.Unlock()
	})
}

// Run feeds the Hub from the Bus until ctx ends, resubscribing when the Bus
// connection is lost.
func (h *Hub) Run(ctx context.Context) {
	for ctx.Err() == nil {
		ch, err := h.bus.Subscribe(ctx)
		if err != nil {
			h.log.Warn("cannot subscribe to release events; retrying", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		for ev := range ch {
			h.dispatch(&ev)
		}
	}
	h.mu.Lock()
	subs := make([]*Subscription, 0, len(h.subs))
	for s := range h.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	for _, s := range subs {
		s.end(fmt.Errorf("server shutting down"))
	}
}

func (h *Hub) dispatch(ev *Event) {
	ev.Seq = h.seq.Add(1)
	var slow []*Subscription
	h.mu.RLock()
	for s := range h.subs {
		if s.match != nil && !s.match(ev) {
			continue
		}
		select {
		case s.c <- ev:
		default:
			slow = append(slow, s)
		}
	}
	h.mu.RUnlock()
	for _, s := range slow {
		s.end(fmt.Errorf("subscriber too slow: %d events were waiting for it; subscribe again and read faster", h.buffer))
	}
}
