package dispatch

import (
	"context"
	"sync"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
)

// Store persists lifecycle state so a restart neither forgets an alert nor
// repeats a notification. Writes are issued in order from the dispatcher's
// loop and must be applied in that order; they complete asynchronously.
type Store interface {
	// Load returns everything stored.
	Load(ctx context.Context) ([]*AlertRecord, []*LogRecord, error)
	PutAlert(rec *AlertRecord) Pending
	DeleteAlert(fp string) Pending
	PutLog(rec *LogRecord) Pending
	DeleteLog(groupID string) Pending
}

// Pending is a write in flight.
type Pending interface {
	// Wait returns the write's result, or ctx's error.
	Wait(ctx context.Context) error
}

// AlertRecord is the latest state of one alert (key alert.<fingerprint>).
type AlertRecord struct {
	Alert *alert.Alert `json:"alert"`
	// Updated is when the router last heard of the alert (wall clock):
	// resolve_timeout counts from here.
	Updated time.Time `json:"updated"`
	// News are the alert's recent significant changes, which a group may
	// not have told yet.
	News []News `json:"news,omitempty"`
	// raw is Alert as read from ALERTS (nil: encode Alert): a store may
	// keep it as it is instead of encoding the alert again.
	raw []byte
	// Head says Alert holds only what the lifecycle decides with (see
	// heads.go): the body is read when a notification needs it.
	Head bool `json:"-"`
}

// News is one significant update of an alert: its number and notes.
type News struct {
	Update int      `json:"update"`
	Notes  []string `json:"notes"`
}

// LogRecord is the notification log of one group (key nflog.<group id>):
// what was last delivered (or dead-lettered), so a restart does not repeat.
type LogRecord struct {
	GroupID  string            `json:"group_id"`
	Receiver string            `json:"receiver"`
	Route    string            `json:"route"`
	Labels   map[string]string `json:"labels"`
	Drill    bool              `json:"drill"`
	At       time.Time         `json:"at"`
	// Firing maps the fingerprints notified as firing to the alert ids,
	// and Updates to the update numbers (news after them is untold).
	Firing  map[string]string `json:"firing"`
	Updates map[string]int    `json:"updates,omitempty"`
	// Starts are the told episodes' starts_at, by fingerprint.
	Starts map[string]time.Time `json:"starts,omitempty"`
	// Ref is the receiver's reference for the group (Slack channel and
	// thread ts).
	Ref string `json:"ref,omitempty"`
	// Parts, in a log too big for one message, says that the record is
	// stored in parts, Firing, Updates and Starts with it (logparts.go).
	Parts *LogParts `json:"parts,omitempty"`
}

// MemoryStore keeps state in memory (tests, and a router that may forget).
type MemoryStore struct {
	mu     sync.Mutex
	alerts map[string]*AlertRecord
	logs   map[string]*LogRecord
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{alerts: map[string]*AlertRecord{}, logs: map[string]*LogRecord{}}
}

// Failed is a write that failed before it was issued.
type Failed struct{ Err error }

// Wait implements Pending.
func (f Failed) Wait(context.Context) error { return f.Err }

func ok() Pending { return Failed{} }

// Load implements Store.
func (m *MemoryStore) Load(context.Context) ([]*AlertRecord, []*LogRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var as []*AlertRecord
	for _, a := range m.alerts {
		cp := *a
		as = append(as, &cp)
	}
	var ls []*LogRecord
	for _, l := range m.logs {
		cp := *l
		ls = append(ls, &cp)
	}
	return as, ls, nil
}

// PutAlert implements Store.
func (m *MemoryStore) PutAlert(rec *AlertRecord) Pending {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := *rec
	m.alerts[rec.Alert.Fingerprint] = &cp
	return ok()
}

// DeleteAlert implements Store.
func (m *MemoryStore) DeleteAlert(fp string) Pending {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.alerts, fp)
	return ok()
}

// PutLog implements Store.
func (m *MemoryStore) PutLog(rec *LogRecord) Pending {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := *rec
	m.logs[rec.GroupID] = &cp
	return ok()
}

// DeleteLog implements Store.
func (m *MemoryStore) DeleteLog(id string) Pending {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.logs, id)
	return ok()
}

// Counts reports how many alerts and logs are stored.
func (m *MemoryStore) Counts() (alerts, logs int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.alerts), len(m.logs)
}
