package natssec

import (
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/event"
)

// Share is one subject the streams' account (Account) shares with other
// accounts. A service share lets the importing account publish on the
// subject into Account (where a stream stores it) and carries the answer
// back: JetStream's ack goes to the publisher's reply subject in the
// publisher's own account. A stream share delivers what is published in
// Account to the importing account's subscribers, read only.
type Share struct {
	Subject string
	Service bool
	// Streamed marks a service that answers one request with several
	// messages (a batched direct get).
	Streamed bool
	Accounts []string
}

// Shares is the whole cross-account surface, rendered as Account's exports
// and the other accounts' imports. Together with each user's allow list it
// is the role table of docs/deploy.md.
func Shares() []Share {
	shares := []Share{
		{Subject: event.LivePrefix + ".>", Service: true, Accounts: []string{CollectorsAccount, IngestAccount}},
		{Subject: event.DrillPrefix + ".>", Service: true, Accounts: []string{OperatorsAccount}},
		{Subject: "$KV." + bus.BucketSilence + ".>", Service: true, Accounts: []string{OperatorsAccount}},
	}
	for _, api := range OperatorReadAPI {
		shares = append(shares, Share{Subject: api, Service: true, Streamed: api == "$JS.API.DIRECT.GET.>", Accounts: []string{OperatorsAccount}})
	}
	for _, w := range operatorWatch {
		shares = append(shares, Share{Subject: w, Accounts: []string{OperatorsAccount}})
	}
	return shares
}
