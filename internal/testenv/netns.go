package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// NetNS is a network namespace the test run creates, joined to the root
// namespace by a veth pair: HostIP (root side) and PeerIP (inside), a /30.
// The API server's service proxy refuses loopback endpoints, so a backend
// it must reach listens on PeerIP. Only these two addresses are used.
type NetNS struct {
	Name           string
	HostIP, PeerIP string
}

// Addresses of the veth pair (DESIGN.md section 8).
const (
	NetNSHostIP = "10.77.0.1"
	NetNSPeerIP = "10.77.0.2"
)

// NewNetNS creates the namespace and the veth pair (needs root: ip netns).
// Close removes both.
func NewNetNS() (*NetNS, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("netns: needs root to create a network namespace (ip netns add)")
	}
	id := fmt.Sprint(os.Getpid() % 100000)
	n := &NetNS{Name: "helmgraph-" + id, HostIP: NetNSHostIP, PeerIP: NetNSPeerIP}
	host, peer := "hgh"+id, "hgp"+id
	steps := [][]string{
		{"netns", "add", n.Name},
		{"link", "add", host, "type", "veth", "peer", "name", peer},
		{"link", "set", peer, "netns", n.Name},
		{"addr", "add", n.HostIP + "/30", "dev", host},
		{"link", "set", host, "up"},
		{"netns", "exec", n.Name, "ip", "addr", "add", n.PeerIP + "/30", "dev", peer},
		{"netns", "exec", n.Name, "ip", "link", "set", peer, "up"},
		{"netns", "exec", n.Name, "ip", "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
			n.Close()
			exec.Command("ip", "link", "del", host).Run()
			return nil, fmt.Errorf("netns: ip %s: %v: %s", strings.Join(s, " "), err, out)
		}
	}
	return n, nil
}

// Close deletes the namespace; its end of the veth pair goes with it, and
// the other end with that.
func (n *NetNS) Close() error {
	if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("netns: ip netns del %s: %v: %s", n.Name, err, out)
	}
	return nil
}

// Listen opens a TCP listener on PeerIP:port inside the namespace. The
// socket belongs to the namespace it was created in, so the process can
// serve it from any thread afterwards.
func (n *NetNS) Listen(port int) (net.Listener, error) {
	type result struct {
		l   net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open("/var/run/netns/"+n.Name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("setns %s: %w", n.Name, err)}
			return
		}
		l, lerr := net.Listen("tcp", net.JoinHostPort(n.PeerIP, fmt.Sprint(port)))
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// The thread stays in the namespace: keep it locked so that it
			// ends with this goroutine instead of serving others.
			ch <- result{l, lerr}
			return
		}
		runtime.UnlockOSThread()
		ch <- result{l, lerr}
	}()
	r := <-ch
	return r.l, r.err
}
