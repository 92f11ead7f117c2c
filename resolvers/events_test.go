package resolvers_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/helmgraph/helmgraph/cache"
	"github.com/helmgraph/helmgraph/cache/memory"
	"github.com/helmgraph/helmgraph/clusters"
	"github.com/helmgraph/helmgraph/graph"
	"github.com/helmgraph/helmgraph/internal/testenv"
	"github.com/helmgraph/helmgraph/release"
	"github.com/helmgraph/helmgraph/resolvers"
)

// eventServer is a GraphQL server with the websocket transport and the
// shared-response extension over a Hub (subscriber buffer buffer) fed by a
// memory Bus, running until the test ends.
func eventServer(t *testing.T, buffer int) (*handler.Server, *cache.Hub, *memory.Backend) {
	quiet := slog.New(slog.DiscardHandler)
	bus := memory.New()
	hub := cache.NewHub(bus, buffer, quiet)
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	go hub.Run(ctx)
	srv := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{Registry: clusters.NewRegistry(nil), Events: hub, Log: quiet}}))
	srv.AddTransport(transport.Websocket{KeepAlivePingInterval: time.Second})
	srv.Use(resolvers.NewSharedEventResponses())
	return srv, hub, bus
}

// Subscriptions with the same operation share one execution of each event;
// a different selection gets its own, and every subscriber gets its data.
func TestSharedEventResponses(t *testing.T) {
	srv, hub, bus := eventServer(t, 16)
	ctx := t.Context()
	var executions atomic.Int64
	srv.AroundFields(func(ctx context.Context, next graphql.Resolver) (any, error) {
		if fc := graphql.GetFieldContext(ctx); fc != nil && fc.Field.Name == "type" && fc.Object == "ReleaseEvent" {
			executions.Add(1)
		}
		return next(ctx)
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()

	same := `subscription { releaseEvents { type release { name revision status } } }`
	other := `subscription { releaseEvents { type previousStatus release { name } } }`
	var subs []*testenv.WSClient
	for i, q := range []string{same, same, same, other} {
		proto := testenv.GraphQLTransportWS
		if i%2 == 1 {
			proto = testenv.GraphQLWS
		}
		c, err := testenv.DialGraphQL(ctx, ts.URL, proto)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if err := c.Subscribe(ctx, "1", q, nil); err != nil {
			t.Fatal(err)
		}
		subs = append(subs, c)
	}
	for hub.Subscribers() < len(subs) {
		time.Sleep(10 * time.Millisecond)
	}
	ev := cache.Event{Type: cache.Modified, Release: release.Summary{Ref: release.Ref{Cluster: "east", Namespace: "web", Name: "shop"}, Revision: 2, Status: release.StatusDeployed},
		PreviousStatus: release.StatusPendingUpgrade, PreviousRevision: 2, ObservedAt: time.Now()}
	if err := bus.Publish(ctx, ev); err != nil {
		t.Fatal(err)
	}
	for i, c := range subs {
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		m, err := c.Next(wctx)
		wcancel()
		if err != nil {
			t.Fatalf("subscriber %d: %v", i, err)
		}
		var p struct {
			Data struct {
				ReleaseEvents struct {
					Type           string
					PreviousStatus *string
					Release        struct{ Name string }
				}
			}
		}
		if err := json.Unmarshal(m.Payload, &p); err != nil || m.Type != "next" {
			t.Fatalf("subscriber %d: %s %s (%v)", i, m.Type, m.Payload, err)
		}
		got := p.Data.ReleaseEvents
		if got.Type != "MODIFIED" || got.Release.Name != "shop" || (i == 3) != (got.PreviousStatus != nil) {
			t.Errorf("subscriber %d got %s, want a MODIFIED event of shop (with previousStatus only for the other selection)", i, m.Payload)
		}
	}
	if n := executions.Load(); n != 2 {
		t.Errorf("ReleaseEvent.type was resolved %d times for one event and two distinct operations, want 2", n)
	}
}

// A subscriber whose events pile up is ended with an error that says so,
// over the websocket, after the events it had.
func TestSlowSubscriberGetsError(t *testing.T) {
	srv, hub, bus := eventServer(t, 2)
	ctx := t.Context()
	// The first event's execution waits at this gate: the server falls
	// behind the events published meanwhile, as with a client that reads slowly.
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	var first atomic.Bool
	srv.AroundFields(func(ctx context.Context, next graphql.Resolver) (any, error) {
		if fc := graphql.GetFieldContext(ctx); fc != nil && fc.Field.Name == "type" && fc.Object == "ReleaseEvent" && first.CompareAndSwap(false, true) {
			entered <- struct{}{}
			<-gate
		}
		return next(ctx)
	})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	c, err := testenv.DialGraphQL(ctx, ts.URL, testenv.GraphQLTransportWS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Subscribe(ctx, "1", `subscription { releaseEvents { type release { revision } } }`, nil); err != nil {
		t.Fatal(err)
	}
	for hub.Subscribers() < 1 {
		time.Sleep(10 * time.Millisecond)
	}
	publish := func(rev int) {
		ev := cache.Event{Type: cache.Modified, Release: release.Summary{Ref: release.Ref{Cluster: "east", Namespace: "web", Name: "shop"}, Revision: rev}}
		if err := bus.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	publish(1)
	<-entered // event 1 is being executed; the buffer of 2 fills with 2 and 3; 4 overflows it
	for rev := 2; rev <= 4; rev++ {
		publish(rev)
	}
	for hub.Subscribers() > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	close(gate)
	var got []string
	for {
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		m, err := c.Next(wctx)
		wcancel()
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, m.Type+" "+string(m.Payload))
		if m.Type != "next" || len(got) > 5 {
			break
		}
		var p struct{ Errors []struct{ Message string } }
		json.Unmarshal(m.Payload, &p)
		if len(p.Errors) > 0 {
			if !strings.Contains(p.Errors[0].Message, "too slow") {
				t.Errorf("error = %q, want one saying the subscriber was too slow", p.Errors[0].Message)
			}
			break
		}
	}
	// Events 1, 2 and 3, then the error (in a last "next" payload, or as an "error" message).
	if len(got) != 4 || !strings.Contains(got[3], "too slow") {
		t.Errorf("messages = %q, want events 1–3 then an error saying the subscriber was too slow", got)
	}
}
