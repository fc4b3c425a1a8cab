// Package childproc runs the real binaries (nats-server, router,
// collector) as child processes for the measurements that need them
// (task chaos, task bench:ratio): start with output to a log file, stop
// gracefully or kill, wait for a port or a /readyz.
package childproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Proc is a child process with its output in a log file.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// Start starts bin with args and env added, its output appended to
// dir/name.log.
func Start(dir, name, bin string, env []string, args ...string) (*Proc, error) {
	path := filepath.Join(dir, name+".log")
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Cmd: cmd, log: path, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	return p, nil
}

// Kill sends SIGKILL: no shutdown at all, what a crash or an OOM kill does.
func (p *Proc) Kill() {
	_ = p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop asks the process to shut down (SIGTERM) and waits, killing it
// after grace.
func (p *Proc) Stop(grace time.Duration) {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
	}
}

// Exited reports whether the process is gone.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// LogTail is the last n bytes of the process's output, for an error.
func (p *Proc) LogTail(n int64) string {
	f, err := os.Open(p.log)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(fi.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// FreePort picks a loopback port nobody listens on now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// WaitTCP waits until something accepts connections on port.
func WaitTCP(ctx context.Context, port int) error {
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("port %d: %w", port, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// WaitReady polls url (a /readyz) every few milliseconds until it answers
// 200, p exits, or ctx ends.
func WaitReady(ctx context.Context, url string, p *Proc) error {
	c := &http.Client{Timeout: time.Second}
	for {
		if resp, err := c.Get(url); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p.Exited() {
			return errors.New(p.Name + " exited before it was ready: " + p.LogTail(2000))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w", p.Name, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// plain fetches /metrics uncompressed: gzip would cost the measured
// process CPU.
var plain = &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 10 * time.Second}

// Scrape sums the samples of metric name on a Prometheus text page whose
// line contains each of labels (e.g. `outcome="published"`).
func Scrape(url, name string, labels ...string) (float64, error) {
	resp, err := plain.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || rest[0] != ' ' && rest[0] != '{' {
			continue
		}
		if !containsAll(line, labels) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: %w", url, line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// NATSServer starts the nats-server binary bin with JetStream storing in
// store, on 127.0.0.1:port (the same port again after a restart), its
// output in dir/nats-server.log, and waits until it accepts connections.
func NATSServer(ctx context.Context, dir, bin, store string, port int) (*Proc, error) {
	p, err := Start(dir, "nats-server", bin, nil, "-js", "-sd", store, "-a", "127.0.0.1", "-p", strconv.Itoa(port))
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := WaitTCP(wctx, port); err != nil {
		p.Kill()
		return nil, fmt.Errorf("nats-server did not listen: %w\n%s", err, p.LogTail(2048))
	}
	return p, nil
}
