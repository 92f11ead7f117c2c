package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// AuditConfig says where the audit log goes.
type AuditConfig struct {
	// Path is a file the log is appended to, or "-" / "stdout".
	Path string `json:"path"`
}

// Entry is one line of the audit log.
type Entry struct {
	Time      time.Time `json:"time"`
	Subject   string    `json:"subject"`
	Groups    []string  `json:"groups,omitempty"`
	Operation string    `json:"operation"`
	Cluster   string    `json:"cluster,omitempty"`
	Namespace string    `json:"namespace,omitempty"`
	Release   string    `json:"release,omitempty"`
	Chart     string    `json:"chart,omitempty"`
	// ValuesDigest is "sha256:<hex>" of the values as the caller sent them.
	ValuesDigest string `json:"valuesDigest,omitempty"`
	// Result is "denied", "refused", "accepted", "succeeded" or "failed".
	Result string `json:"result"`
	// OperationID is the asynchronous operation a mutation started.
	OperationID string `json:"operationID,omitempty"`
	// Error is why a mutation was refused or failed, or why a request was denied.
	Error string `json:"error,omitempty"`
}

// Auditor appends JSON lines to a writer.
type Auditor struct {
	mu    sync.Mutex
	w     io.Writer
	close func() error
}

// NewAuditor writes to w.
func NewAuditor(w io.Writer) *Auditor { return &Auditor{w: w, close: func() error { return nil }} }

// OpenAuditor opens the configured log: a file (appended, mode 0600) or stdout.
func OpenAuditor(cfg AuditConfig) (*Auditor, error) {
	switch cfg.Path {
	case "":
		return nil, fmt.Errorf("audit.path: missing (a file, or \"stdout\")")
	case "-", "stdout":
		return NewAuditor(os.Stdout), nil
	}
	f, err := os.OpenFile(cfg.Path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit.path: %w", err)
	}
	return &Auditor{w: f, close: f.Close}, nil
}

// Record writes one entry; a nil Auditor records nothing.
func (a *Auditor) Record(e Entry) {
	if a == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.w.Write(append(b, '\n'))
}

// Close closes the log file.
func (a *Auditor) Close() error {
	if a == nil {
		return nil
	}
	return a.close()
}

// Digest is the audit log's digest of values.
func Digest(values string) string {
	if values == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(values))
	return "sha256:" + hex.EncodeToString(sum[:])
}
