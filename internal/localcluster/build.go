package localcluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// toolsDir finds the tools/<name> module of the helmgraph source tree: from
// the working directory upwards (the demo is run from a checkout), then from
// this source file's location (tests run in their package directory).
func toolsDir(name string) (string, error) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for d := dir; ; d = filepath.Dir(d) {
			candidate := filepath.Join(d, "tools", name)
			if _, err := os.Stat(filepath.Join(candidate, "go.mod")); err == nil {
				return candidate, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	return "", fmt.Errorf("tools/%s not found: run helmgraph from its source checkout", name)
}

// CacheDir is where built tool binaries are kept: $HELMGRAPH_CACHE, else the
// user's cache directory.
func CacheDir() string {
	if d := os.Getenv("HELMGRAPH_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "helmgraph")
	}
	return filepath.Join(os.TempDir(), "helmgraph-cache")
}

// BuildTool builds the module tools/<name> into the cache, once per version of
// its sources, and returns the binary's path. Concurrent callers (several test
// packages at once) serialise on a lock file and share the result.
func BuildTool(ctx context.Context, name, ldflags string, log io.Writer) (string, error) {
	src, err := toolsDir(name)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum", "main.go"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(b))
		h.Write(b)
	}
	// Modules a tool replaces with a local directory (tools/tiller/moniker)
	// are part of its sources too. Tools without any keep the hash above.
	var extra []string
	err = filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || filepath.Dir(p) == src {
			return err
		}
		if n := e.Name(); strings.HasSuffix(n, ".go") || n == "go.mod" || n == "go.sum" {
			extra = append(extra, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	slices.Sort(extra)
	for _, p := range extra {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(src, p)
		fmt.Fprintf(h, "%s\x00%d\x00", rel, len(b))
		h.Write(b)
	}
	fmt.Fprintf(h, "%s/%s/%s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH, ldflags)
	dir := filepath.Join(CacheDir(), "tools", name+"-"+hex.EncodeToString(h.Sum(nil))[:16])
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", dir, err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	fmt.Fprintf(log, "building %s from tools/%s (first run only; a cold build of Kubernetes components takes several minutes)...\n", name, name)
	start := time.Now()
	tmp := bin + ".tmp"
	cmd := exec.CommandContext(ctx, "go", "build", "-ldflags", ldflags, "-o", tmp, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = log, log
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(log, "  still building %s (%s)...\n", name, time.Since(start).Round(time.Second))
			}
		}
	}()
	err = cmd.Run()
	close(done)
	if err != nil {
		return "", fmt.Errorf("build tools/%s: %w", name, err)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	fmt.Fprintf(log, "built %s in %s\n", name, time.Since(start).Round(time.Second))
	return bin, nil
}

// BuildAPIServer builds (or finds cached) the kube-apiserver test component.
// The version is stamped in as a release build would be, because Helm checks
// charts' kubeVersion constraints against it.
func BuildAPIServer(ctx context.Context, log io.Writer) (string, error) {
	src, err := toolsDir("kube-apiserver")
	if err != nil {
		return "", err
	}
	mod, err := os.ReadFile(filepath.Join(src, "go.mod"))
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`k8s.io/kubernetes v1\.(\d+)\.(\d+)`).FindSubmatch(mod)
	if m == nil {
		return "", fmt.Errorf("tools/kube-apiserver/go.mod does not require k8s.io/kubernetes v1.x")
	}
	minor, patch := string(m[1]), string(m[2])
	var ld []string
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		ld = append(ld, "-X", pkg+".gitVersion=v1."+minor+"."+patch, "-X", pkg+".gitMajor=1", "-X", pkg+".gitMinor="+minor,
			"-X", pkg+".gitTreeState=clean")
	}
	return BuildTool(ctx, "kube-apiserver", strings.Join(ld, " "), log)
}
