// Command gen-auth makes aftershock's NATS users: an nkey seed per role and
// per collector node, and the auth.conf that deploy/nats/nats-server.conf
// includes. Rerun it when nodes join; existing seeds are kept. See
// docs/deploy.md.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/aftershock/aftershock/internal/natssec"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("gen-auth", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "gen-auth: make aftershock's NATS users (nkeys) and auth.conf.\n\nUsage:\n  go run ./deploy/nats/gen-auth --dir DIR [--cluster NAME --nodes a,b | --nodes-file FILE] [--tls-hosts h1,h2] [--collector-secret] [--ingest-token]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var p natssec.Plan
	var nodes, nodesFile, hosts string
	fs.StringVar(&p.Dir, "dir", "", "directory of seeds; auth.conf is written there (keep it out of git)")
	fs.StringVar(&p.Cluster, "cluster", "", "cluster name of the nodes, as the collectors' --cluster")
	fs.StringVar(&nodes, "nodes", "", "comma-separated node names to add")
	fs.StringVar(&nodesFile, "nodes-file", "", "file of node names, one a line (`kubectl get nodes -o name` works; - is stdin)")
	fs.StringVar(&hosts, "tls-hosts", "", "comma-separated DNS names/IPs: make a CA and server certificate under DIR/tls if absent")
	fs.BoolVar(&p.CollectorSecret, "collector-secret", false, "also write DIR/collector-nkeys.yaml: the cluster's collector seeds as a Kubernetes Secret")
	fs.BoolVar(&p.IngestToken, "ingest-token", false, "also write DIR/ingest.token (if absent): a random bearer token for HTTP ingest, which collectors on the node's address require")
	fs.DurationVar(&p.TLSValidFor, "tls-valid-for", 0, "lifetime of generated certificates (default 8760h)")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	p.Nodes = split(nodes)
	p.TLSHosts = split(hosts)
	if nodesFile != "" {
		f := os.Stdin
		if nodesFile != "-" {
			var err error
			if f, err = os.Open(nodesFile); err != nil {
				fmt.Fprintln(os.Stderr, "gen-auth:", err)
				return 1
			}
			defer f.Close()
		}
		more, err := natssec.ReadNodes(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, "gen-auth: nodes file:", err)
			return 1
		}
		p.Nodes = append(p.Nodes, more...)
	}
	if err := natssec.Generate(p, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gen-auth:", err)
		return 1
	}
	return 0
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
