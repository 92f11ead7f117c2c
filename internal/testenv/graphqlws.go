package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// The two websocket subprotocols GraphQL servers speak.
const (
	// GraphQLTransportWS is graphql-ws's protocol ("subscribe", "next", ping/pong).
	GraphQLTransportWS = "graphql-transport-ws"
	// GraphQLWS is the legacy subscriptions-transport-ws protocol ("start", "data", "ka").
	GraphQLWS = "graphql-ws"
)

// WSClient is a GraphQL websocket client speaking either subprotocol, as
// browsers' GraphQL clients do. It answers pings and skips keepalives.
type WSClient struct {
	conn     *websocket.Conn
	protocol string
	wmu      sync.Mutex
	msgs     chan WSMessage
	err      error // why msgs was closed
	// keepAlives counts the server's keepalives ("ka" or "ping") seen.
	keepAlives atomic.Int64
}

// WSMessage is one message the server sent about a subscription.
type WSMessage struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
	// At is when the client read the message off the connection.
	At time.Time `json:"-"`
}

// DialGraphQL connects to a GraphQL endpoint (http:// URL) with the given
// subprotocol and completes connection_init.
func DialGraphQL(ctx context.Context, httpURL, protocol string) (*WSClient, error) {
	u := "ws" + strings.TrimPrefix(httpURL, "http")
	conn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{protocol}})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	conn.SetReadLimit(16 << 20)
	if conn.Subprotocol() != protocol {
		conn.Close(websocket.StatusProtocolError, "")
		return nil, fmt.Errorf("server chose subprotocol %q, want %q", conn.Subprotocol(), protocol)
	}
	c := &WSClient{conn: conn, protocol: protocol, msgs: make(chan WSMessage, 4096)}
	if err := c.send(ctx, map[string]any{"type": "connection_init", "payload": map[string]any{}}); err != nil {
		return nil, err
	}
	for {
		m, err := c.read(ctx)
		if err != nil {
			return nil, err
		}
		switch m.Type {
		case "connection_ack":
			go c.readLoop()
			return c, nil
		case "ka", "ping", "pong":
			continue
		default:
			return nil, fmt.Errorf("connection_init answered with %s: %s", m.Type, m.Payload)
		}
	}
}

// readLoop reads all the time, as a real client does, so that pings are
// answered even while the test is busy elsewhere.
func (c *WSClient) readLoop() {
	defer close(c.msgs)
	ctx := context.Background()
	for {
		m, err := c.read(ctx)
		if err != nil {
			c.err = err
			return
		}
		switch m.Type {
		case "ka":
			c.keepAlives.Add(1)
			continue
		case "ping":
			c.keepAlives.Add(1)
			if err := c.send(ctx, map[string]any{"type": "pong"}); err != nil {
				c.err = err
				return
			}
			continue
		case "pong":
			continue
		case "data":
			m.Type = "next"
		}
		c.msgs <- m
	}
}

// KeepAlives counts the server's keepalives ("ka" or "ping") seen so far.
func (c *WSClient) KeepAlives() int64 { return c.keepAlives.Load() }

func (c *WSClient) send(ctx context.Context, v any) error {
	b, _ := json.Marshal(v)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.conn.Write(ctx, websocket.MessageText, b)
}

func (c *WSClient) read(ctx context.Context) (WSMessage, error) {
	_, b, err := c.conn.Read(ctx)
	if err != nil {
		return WSMessage{}, err
	}
	m := WSMessage{At: time.Now()} // arrival, before any decoding
	if err := json.Unmarshal(b, &m); err != nil {
		return WSMessage{}, fmt.Errorf("message is not JSON: %s", b)
	}
	return m, nil
}

// Subscribe starts a subscription with the given id.
func (c *WSClient) Subscribe(ctx context.Context, id, query string, vars map[string]any) error {
	typ := "subscribe"
	if c.protocol == GraphQLWS {
		typ = "start"
	}
	return c.send(ctx, map[string]any{"id": id, "type": typ, "payload": map[string]any{"query": query, "variables": vars}})
}

// Next returns the next message about a subscription: its type normalised to
// "next" (data), "error" or "complete". Keepalives are counted and skipped,
// pings answered.
func (c *WSClient) Next(ctx context.Context) (WSMessage, error) {
	select {
	case m, ok := <-c.msgs:
		if !ok {
			return m, fmt.Errorf("connection closed: %w", c.err)
		}
		return m, nil
	case <-ctx.Done():
		return WSMessage{}, ctx.Err()
	}
}

// Close closes the connection.
func (c *WSClient) Close() error { return c.conn.Close(websocket.StatusNormalClosure, "") }

// CloseNow drops the connection without a close handshake.
func (c *WSClient) CloseNow() error { return c.conn.CloseNow() }
