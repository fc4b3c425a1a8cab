// Package natssec makes aftershock's NATS security material: the
// permissions of each role (collector, router, operator), nkey users
// rendered as nats-server configuration, and TLS certificates for test and
// example clusters. The server configuration that includes the rendered
// users is deploy/nats/nats-server.conf; docs/deploy.md explains the model.
package natssec

import (
	"fmt"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/event"
)

// Role is what a NATS user may do.
type Role string

// Roles. A collector is confined to its own node's subjects; the router owns
// the streams; ingest is the router's HTTP ingest, which stores events for
// any node; operators run drills and edit silences; system is NATS's own
// system account (server reports), not used by aftershock's binaries.
const (
	RoleCollector Role = "collector"
	RoleRouter    Role = "router"
	RoleIngest    Role = "ingest"
	RoleOperator  Role = "operator"
	RoleSystem    Role = "system"
)

// Account is the NATS account aftershock's users live in; SystemAccount is
// the server's system account.
const (
	Account       = "AFTERSHOCK"
	SystemAccount = "SYS"
)

// Permissions are the subjects a user may publish to and subscribe to.
// Everything else is denied: NATS denies what an allow list does not name.
type Permissions struct {
	Publish   []string
	Subscribe []string
}

// CollectorPermissions confine the collector of node in cluster to publishing
// its own events (events.<cluster>.<node>.>) and receiving the JetStream
// acks of those publishes on its own inbox. It cannot read anything, publish
// alerts, drills or other nodes' events, or call the JetStream API.
func CollectorPermissions(cluster, node string) Permissions {
	return Permissions{
		Publish:   []string{event.LivePrefix + "." + event.Token(cluster) + "." + event.Token(node) + ".>"},
		Subscribe: []string{bus.CollectorInbox(cluster, node) + ".>"},
	}
}

// RouterPermissions let the router provision and consume the streams and
// write alerts, dead letters and its KV buckets. It may not publish events:
// only collectors, ingest and drills create them.
func RouterPermissions() Permissions {
	return Permissions{
		Publish: []string{
			"$JS.API.>", // provisioning, consumers, KV, partition hand-over
			"$JS.ACK.>", // acks of consumed events and alerts
			"$JS.FC.>",  // flow control of ordered consumers (KV watchers)
			"alerts.>",
			"dlq.>",
			"$KV." + bus.BucketSilence + ".>",
			"$KV." + bus.BucketState + ".>",
			"$KV." + bus.BucketRouters + ".>", // partitioned routers' heartbeats
		},
		Subscribe: []string{"_INBOX.>"},
	}
}

// IngestPermissions let the router's HTTP ingest (applications, Alertmanager
// webhooks) store live events for any cluster and node, and receive the acks
// of those publishes on its own inbox (bus.IngestInbox). It cannot publish
// drills, alerts or KV, read any stream, or call the JetStream API. The
// router uses this user on a second connection (--ingest-nats-nkey), so a
// bug in rule evaluation cannot forge events and a bug in ingest cannot
// touch alerts or streams.
func IngestPermissions() Permissions {
	return Permissions{
		Publish:   []string{event.LivePrefix + ".>"},
		Subscribe: []string{bus.IngestInbox + ".>"},
	}
}

// OperatorPermissions let a person (or the drill tooling) publish drill
// events, edit silences, and read streams, with the nats CLI. They cannot
// publish live events or alerts, write alert state, or delete or change
// streams and consumers.
func OperatorPermissions() Permissions {
	return Permissions{
		Publish: []string{
			event.DrillPrefix + ".>",
			"$KV." + bus.BucketSilence + ".>",
			"$JS.API.INFO",
			"$JS.API.STREAM.NAMES",
			"$JS.API.STREAM.LIST",
			"$JS.API.STREAM.INFO.*",
			"$JS.API.STREAM.MSG.GET.*",
			"$JS.API.DIRECT.GET.>",
			// Ephemeral consumers for `nats stream view`, `nats sub --stream`
			// and `nats kv watch`; durable create is a different subject.
			"$JS.API.CONSUMER.CREATE.*",
			"$JS.API.CONSUMER.CREATE.*.>",
			"$JS.API.CONSUMER.NAMES.*",
			"$JS.API.CONSUMER.LIST.*",
			"$JS.API.CONSUMER.INFO.*.*",
			"$JS.API.CONSUMER.MSG.NEXT.*.*",
			"$JS.FC.>",
		},
		Subscribe: []string{
			"_INBOX.>",
			event.LivePrefix + ".>",
			event.DrillPrefix + ".>",
			"alerts.>",
		},
	}
}

// User is one NATS user: a role, its nkey public key and, for a collector,
// the node it speaks for.
type User struct {
	Role      Role
	Cluster   string // collectors only
	Node      string // collectors only
	PublicKey string
}

// Name is how the user is labelled in files and comments.
func (u User) Name() string {
	if u.Role == RoleCollector {
		return fmt.Sprintf("collector %s/%s", u.Cluster, u.Node)
	}
	return string(u.Role)
}

// Permissions returns u's role's permissions; system users have none (the
// system account grants its own).
func (u User) Permissions() (Permissions, bool) {
	switch u.Role {
	case RoleCollector:
		return CollectorPermissions(u.Cluster, u.Node), true
	case RoleRouter:
		return RouterPermissions(), true
	case RoleIngest:
		return IngestPermissions(), true
	case RoleOperator:
		return OperatorPermissions(), true
	}
	return Permissions{}, false
}
