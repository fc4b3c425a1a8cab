package natssec

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Plan is what Generate should make sure exists.
type Plan struct {
	// Dir is the Store directory.
	Dir string
	// Cluster and Nodes name collectors to add; existing ones are kept.
	Cluster string
	Nodes   []string
	// TLSHosts, when set, makes a CA and a server certificate for these
	// names under Dir/tls unless one is there already.
	TLSHosts []string
	// TLSValidFor is the certificates' lifetime (default one year).
	TLSValidFor time.Duration
	// CollectorSecret writes Dir/collector-nkeys.yaml, a Kubernetes Secret
	// with the seeds of Cluster's collectors.
	CollectorSecret bool
	// IngestToken writes Dir/ingest.token, a random bearer token for HTTP
	// ingest (collectors on the node's address require one), unless it
	// exists.
	IngestToken bool
}

// IngestTokenFile is the ingest bearer token IngestToken writes.
const IngestTokenFile = "ingest.token"

// Generate ensures the router, ingest, operator and system users, a collector user
// per node, and optionally TLS files, then renders auth.conf from every seed
// in the directory. It writes a line per user to out.
func Generate(p Plan, out io.Writer) error {
	if p.Dir == "" {
		return errors.New("dir: required")
	}
	if (len(p.Nodes) > 0 || p.CollectorSecret) && p.Cluster == "" {
		return errors.New("cluster: required with nodes and with the collector secret")
	}
	st := Store{Dir: p.Dir}
	for _, r := range []Role{RoleSystem, RoleRouter, RoleIngest, RoleOperator} {
		if err := ensure(st, out, r, "", ""); err != nil {
			return err
		}
	}
	for _, n := range p.Nodes {
		if err := ensure(st, out, RoleCollector, p.Cluster, n); err != nil {
			return err
		}
	}
	users, err := st.WriteAuth()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s (%d users)\n", filepath.Join(p.Dir, AuthFile), len(users))
	if p.CollectorSecret {
		path := filepath.Join(p.Dir, "collector-nkeys.yaml")
		var buf bytes.Buffer
		if err := st.WriteCollectorSecret(&buf, p.Cluster); err != nil {
			return err
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(out, "wrote %s (Secret %s)\n", path, CollectorSecretName)
	}
	if p.IngestToken {
		path := filepath.Join(p.Dir, IngestTokenFile)
		created, err := writeToken(path)
		if err != nil {
			return fmt.Errorf("ingest token: %w", err)
		}
		verb := "kept"
		if created {
			verb = "created"
		}
		fmt.Fprintf(out, "%s ingest token: %s\n", verb, path)
	}
	if len(p.TLSHosts) > 0 {
		if p.TLSValidFor == 0 {
			p.TLSValidFor = 365 * 24 * time.Hour
		}
		f, err := WriteServerTLS(filepath.Join(p.Dir, "tls"), p.TLSHosts, p.TLSValidFor)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "tls: %s, %s, %s\n", f.CA, f.Cert, f.Key)
	}
	return nil
}

func ensure(st Store, out io.Writer, r Role, cluster, node string) error {
	u, created, err := st.Ensure(r, cluster, node)
	if err != nil {
		return err
	}
	verb := "kept"
	if created {
		verb = "created"
	}
	fmt.Fprintf(out, "%s %s: %s\n", verb, u.Name(), st.SeedPath(r, cluster, node))
	return nil
}

// ReadNodes reads node names, one a line; blank lines and # comments are
// skipped, and the "node/" prefix of `kubectl get nodes -o name` is removed.
func ReadNodes(r io.Reader) ([]string, error) {
	var nodes []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		nodes = append(nodes, strings.TrimPrefix(line, "node/"))
	}
	return nodes, sc.Err()
}

// writeToken writes 32 random bytes, hex, to path unless it exists.
func writeToken(path string) (bool, error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return false, err
	}
	if _, err := f.WriteString(hex.EncodeToString(b)); err != nil {
		f.Close()
		return false, err
	}
	return true, f.Close()
}
