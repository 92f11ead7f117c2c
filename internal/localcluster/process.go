package localcluster

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// StartLogged starts cmd with its output appended to logPath, in its own
// process group and killed if this process dies, so that no server a test
// or the demo started outlives it. done is closed once cmd has exited.
func StartLogged(cmd *exec.Cmd, logPath string) (done chan struct{}, err error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	done = make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	return done, nil
}
