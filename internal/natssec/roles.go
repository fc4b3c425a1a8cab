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

// Accounts. Each role has an account of its own: NATS checks a publish
// permission on the subject and not on the reply subject, and JetStream
// sends its publish acknowledgement to the reply subject, so a user in the
// streams' account could make the server store that ack on any subject a
// stream captures (an alert, a silence, the notifier lease, another node's
// events). Only the router lives in Account with the streams. The other
// roles reach exactly their subjects through service imports (NATS's way
// of publishing into another account's stream and getting the ack back):
// the server rewrites the reply subject on the way in and delivers the ack
// to the original reply subject in the publisher's account, where nothing
// stores it. docs/deploy.md explains the model.
const (
	// Account holds the streams and buckets (JetStream) and the router.
	Account = "AFTERSHOCK"
	// CollectorsAccount holds every node's collector (no JetStream).
	CollectorsAccount = "COLLECTORS"
	// IngestAccount holds the router's HTTP ingest user (no JetStream).
	IngestAccount = "INGEST"
	// OperatorsAccount holds people and drill tooling (no JetStream).
	OperatorsAccount = "OPERATORS"
	// SystemAccount is the server's system account.
	SystemAccount = "SYS"
)

// Account is the NATS account the role's users are in.
func (r Role) Account() string {
	switch r {
	case RoleCollector:
		return CollectorsAccount
	case RoleIngest:
		return IngestAccount
	case RoleOperator:
		return OperatorsAccount
	case RoleSystem:
		return SystemAccount
	}
	return Account
}

// Permissions are the subjects a user may publish to and subscribe to.
// Everything else is denied: NATS denies what an allow list does not name.
type Permissions struct {
	Publish   []string
	Subscribe []string
}

// CollectorPermissions confine the collector of node in cluster to publishing
// its own events (events.<cluster>.<node>.>) and receiving the JetStream
// acks of those publishes on its own inbox. It cannot read anything, publish
// alerts, drills or other nodes' events, or call the JetStream API (its
// account has none).
func CollectorPermissions(cluster, node string) Permissions {
	return Permissions{
		Publish:   []string{event.LivePrefix + "." + event.Token(cluster) + "." + event.Token(node) + ".>"},
		Subscribe: []string{bus.CollectorInbox(cluster, node) + ".>"},
	}
}

// RouterPermissions let the router provision and consume the streams and
// write alerts, dead letters and its KV buckets. It may not publish events:
// only collectors, ingest and drills create them. It owns the streams'
// account, so it is trusted with the JetStream API; the limits here are
// against its own bugs, not against an attacker holding its key.
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
			"$KV." + bus.BucketRouters + ".>", // heartbeats and the notifier lease
			"$O." + bus.BucketWindows + ".>",  // window state snapshots
		},
		Subscribe: []string{bus.RouterInbox + ".>"},
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

// OperatorReadAPI is the read-only JetStream API operators may call: stream
// and consumer information, and message reads that need no consumer
// (stream message get, direct get). Creating a consumer is not in it: a
// consumer's deliver subject is in its request body, where NATS
// permissions cannot see it, and a push consumer delivering to alerts.> or
// $KV.> would store stream messages there.
var OperatorReadAPI = []string{
	"$JS.API.INFO",
	"$JS.API.STREAM.NAMES",
	"$JS.API.STREAM.LIST",
	"$JS.API.STREAM.INFO.*",
	"$JS.API.STREAM.MSG.GET.*",
	"$JS.API.DIRECT.GET.>",
	"$JS.API.CONSUMER.NAMES.*",
	"$JS.API.CONSUMER.LIST.*",
	"$JS.API.CONSUMER.INFO.*.*",
}

// OperatorPermissions let a person (or the drill tooling) publish drill
// events, edit silences, read streams with direct gets, and watch events,
// drills and alerts as they come, with the nats CLI (--inbox-prefix
// _INBOX_OPERATOR) or `router silence`. They cannot publish live events or
// alerts, write alert state or the routers' bucket, create, edit or delete
// consumers, or change streams.
func OperatorPermissions() Permissions {
	return Permissions{
		Publish: append([]string{
			event.DrillPrefix + ".>",
			"$KV." + bus.BucketSilence + ".>",
		}, OperatorReadAPI...),
		Subscribe: append([]string{bus.OperatorInbox + ".>"}, operatorWatch...),
	}
}

// operatorWatch are the subjects the streams' account shares with
// operators as they are published (stream exports: read only).
var operatorWatch = []string{event.LivePrefix + ".>", event.DrillPrefix + ".>", "alerts.>"}

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
