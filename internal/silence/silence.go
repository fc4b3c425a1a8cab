// Package silence mutes alerts for a while: a silence has label matchers,
// a start and an end, an author and a comment. Silences live in the KV
// bucket SILENCES as JSON (docs/silences.md), one key per silence, so
// `router silence add|list|expire` and the plain `nats kv` CLI both edit
// them; every router watches the bucket.
package silence

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/route"
)

// Silence is the stored JSON of one silence.
type Silence struct {
	// ID is also the KV key; the key wins if they differ.
	ID string `json:"id"`
	// Matchers use the routing file's syntax: name="value", name!="value",
	// name=~"regexp", name!~"regexp". An alert is muted when all match.
	Matchers  []string  `json:"matchers"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedBy string    `json:"created_by"`
	Comment   string    `json:"comment"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	// UpdatedAt is set when the silence is changed (expired).
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// State is where a silence is in time.
type State string

// Silence states.
const (
	Pending State = "pending"
	Active  State = "active"
	Expired State = "expired"
)

// StateAt returns the silence's state at now.
func (s *Silence) StateAt(now time.Time) State {
	switch {
	case now.Before(s.StartsAt):
		return Pending
	case now.Before(s.EndsAt):
		return Active
	}
	return Expired
}

var idPattern = regexp.MustCompile(`^[-_=a-zA-Z0-9]+$`)

// Validate checks s and compiles its matchers, naming each bad field.
func (s *Silence) Validate() (route.Matchers, error) {
	var errs []error
	if !idPattern.MatchString(s.ID) {
		errs = append(errs, fmt.Errorf("id %q: use letters, digits, -, _ and =", s.ID))
	}
	if len(s.Matchers) == 0 {
		errs = append(errs, errors.New("matchers: at least one is required (a silence of everything is a mistake)"))
	}
	ms, err := route.ParseMatchers(s.Matchers)
	if err != nil {
		errs = append(errs, fmt.Errorf("matchers: %w", err))
	}
	if s.StartsAt.IsZero() || s.EndsAt.IsZero() {
		errs = append(errs, errors.New("starts_at and ends_at are required (RFC 3339)"))
	} else if !s.EndsAt.After(s.StartsAt) {
		errs = append(errs, fmt.Errorf("ends_at %s is not after starts_at %s", s.EndsAt.Format(time.RFC3339), s.StartsAt.Format(time.RFC3339)))
	}
	if strings.TrimSpace(s.CreatedBy) == "" {
		errs = append(errs, errors.New("created_by: say who silences"))
	}
	if strings.TrimSpace(s.Comment) == "" {
		errs = append(errs, errors.New("comment: say why"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("silence %s: %w", s.ID, errors.Join(errs...))
	}
	return ms, nil
}

// Decode parses a stored silence; key is its KV key.
func Decode(key string, b []byte) (*Silence, route.Matchers, error) {
	var s Silence
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, nil, fmt.Errorf("silence %s: %w", key, err)
	}
	if s.ID != "" && s.ID != key {
		return nil, nil, fmt.Errorf("silence %s: id %q differs from its key", key, s.ID)
	}
	s.ID = key
	ms, err := s.Validate()
	if err != nil {
		return nil, nil, err
	}
	return &s, ms, nil
}
