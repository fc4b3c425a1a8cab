// Package dnsprobe queries every configured resolver directly (miekg/dns, so
// rcodes are visible) and publishes dns.timeout, dns.error, dns.recovered and
// a periodic dns.probe summary. In the 2020-06 incident RPCs timed out because
// DNS did: the crashed node hosted a CoreDNS pod.
package dnsprobe

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Config says what to probe and how often. Defaults fills zero fields.
type Config struct {
	// Targets are resolvers probed for Names: the kube-dns service IP, each
	// CoreDNS endpoint, a node-local cache such as 169.254.20.10. "ip" or
	// "ip:port".
	Targets []string
	// Names are queried (type A) on every target.
	Names []string
	// ResolvConf is the host's resolv.conf; its nameservers are probed for
	// ResolvConfNames. Empty: none.
	ResolvConf string
	// ResolvConfNames are queried on the resolv.conf nameservers; "." asks
	// for the root NS set, which any recursive resolver answers.
	ResolvConfNames []string
	// TCP probes every server over TCP as well as UDP.
	TCP bool
	// Interval between probe rounds; Timeout bounds one query.
	Interval time.Duration
	Timeout  time.Duration
	// Rollup is the interval over which repeated failures of one (server,
	// name, transport) are counted into one event.
	Rollup time.Duration
	// Summary is the dns.probe period.
	Summary time.Duration
}

// Defaults fills zero fields.
func (c *Config) Defaults() {
	if len(c.Names) == 0 {
		c.Names = []string{"kubernetes.default.svc.cluster.local."}
	}
	if len(c.ResolvConfNames) == 0 {
		c.ResolvConfNames = []string{"."}
	}
	if c.Interval == 0 {
		c.Interval = 5 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = min(2*time.Second, c.Interval)
	}
	if c.Rollup == 0 {
		c.Rollup = time.Minute
	}
	if c.Summary == 0 {
		c.Summary = time.Minute
	}
}

// Validate names every bad field.
func (c *Config) Validate() error {
	var errs []error
	for _, t := range c.Targets {
		if _, err := serverAddr(t); err != nil {
			errs = append(errs, fmt.Errorf("dns target %q: %w", t, err))
		}
	}
	for _, n := range append(append([]string{}, c.Names...), c.ResolvConfNames...) {
		if _, ok := dns.IsDomainName(n); !ok {
			errs = append(errs, fmt.Errorf("dns name %q: not a domain name", n))
		}
	}
	if c.Interval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("dns interval %s: must be at least 10ms", c.Interval))
	}
	if c.Timeout <= 0 || c.Timeout > c.Interval {
		errs = append(errs, fmt.Errorf("dns timeout %s: must be positive and at most the interval %s", c.Timeout, c.Interval))
	}
	if c.Rollup < c.Interval {
		errs = append(errs, fmt.Errorf("dns rollup %s: must be at least the interval %s", c.Rollup, c.Interval))
	}
	if c.Summary < c.Interval {
		errs = append(errs, fmt.Errorf("dns summary %s: must be at least the interval %s", c.Summary, c.Interval))
	}
	return errors.Join(errs...)
}

// ResolvConfUnder is the resolv.conf of a host whose root is mounted at root.
func ResolvConfUnder(root string) string {
	return filepath.Join(root, "etc", "resolv.conf")
}

// ErrNoResolvers says there is nothing to probe: no targets, and no
// nameserver in resolv.conf.
var ErrNoResolvers = errors.New("no resolvers to probe")

// probe is one (server, name, transport) checked every round.
type probe struct {
	server    string // host:port
	name      string
	qtype     uint16
	transport string // udp or tcp
}

func (p probe) key() string { return p.server + " " + p.name + " " + p.transport }

// probes expands the configuration into the list checked each round. A
// missing resolv.conf is not an error when targets are configured.
func (c *Config) probes() ([]probe, error) {
	type sn struct{ server, name string }
	var pairs []sn
	seen := map[sn]bool{}
	add := func(server string, names []string) {
		for _, n := range names {
			p := sn{server, dns.Fqdn(n)}
			if !seen[p] {
				seen[p] = true
				pairs = append(pairs, p)
			}
		}
	}
	var rcErr error
	if c.ResolvConf != "" {
		servers, err := resolvConfServers(c.ResolvConf)
		if err != nil {
			rcErr = err
		}
		for _, s := range servers {
			add(s, c.ResolvConfNames)
		}
	}
	for _, t := range c.Targets {
		addr, err := serverAddr(t)
		if err != nil {
			return nil, fmt.Errorf("dns target %q: %w", t, err)
		}
		add(addr, c.Names)
	}
	if len(pairs) == 0 {
		if rcErr != nil {
			return nil, fmt.Errorf("%w: %w", ErrNoResolvers, rcErr)
		}
		return nil, fmt.Errorf("%w: no dns targets and no nameserver in resolv.conf", ErrNoResolvers)
	}
	transports := []string{"udp"}
	if c.TCP {
		transports = append(transports, "tcp")
	}
	var out []probe
	for _, p := range pairs {
		qtype := dns.TypeA
		if p.name == "." {
			qtype = dns.TypeNS
		}
		for _, tr := range transports {
			out = append(out, probe{server: p.server, name: p.name, qtype: qtype, transport: tr})
		}
	}
	return out, rcErr
}

func resolvConfServers(path string) ([]string, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("resolv.conf: %w", err)
	}
	cc, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("resolv.conf %s: %w", path, err)
	}
	out := make([]string, 0, len(cc.Servers))
	for _, s := range cc.Servers {
		out = append(out, net.JoinHostPort(s, cc.Port))
	}
	return out, nil
}

// serverAddr normalises "ip" or "ip:port" to host:port (port 53 by default).
func serverAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = strings.Trim(s, "[]"), "53"
	}
	if net.ParseIP(host) == nil {
		return "", fmt.Errorf("want an IP address or IP:port, not a host name (probing must not depend on DNS)")
	}
	return net.JoinHostPort(host, port), nil
}
