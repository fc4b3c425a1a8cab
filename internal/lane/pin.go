package lane

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/atomicfile"
)

// pinHeader carries the id of the pin a pinned consumer's message was
// delivered under.
const pinHeader = "Nats-Pin-Id"

// notePin keeps the pin id this process was given (Config.PinFile), once
// per new id: the next process of this router, after a crash, unpins what
// it finds pinned to it instead of waiting PinnedTTL for the dead pin to
// lapse, with the lane's events held all that time. No other router can
// hold that id. A failed write costs only that wait.
func (l *Lane) notePin(msg jetstream.Msg) {
	if l.cfg.PinFile == "" {
		return
	}
	id := msg.Headers().Get(pinHeader)
	if id == "" || id == l.pinID {
		return
	}
	l.pinID = id
	err := os.MkdirAll(filepath.Dir(l.cfg.PinFile), 0o755)
	if err == nil {
		err = atomicfile.Write(l.cfg.PinFile, []byte(id+"\n"), 0o644)
	}
	if err != nil {
		l.log.Warn("pin id not kept; after a crash the lane waits for the pin to lapse", "file", l.cfg.PinFile, "err", err)
	}
}

// unpinPredecessor unpins the consumer if it is pinned to the id this
// router's previous process kept: that process is gone (this one has its
// router id), and its pin would hold the lane's events until it lapsed.
func (l *Lane) unpinPredecessor(ctx context.Context, info *jetstream.ConsumerInfo) {
	if l.cfg.PinFile == "" || info == nil {
		return
	}
	b, err := os.ReadFile(l.cfg.PinFile)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			l.log.Warn("pin id of the previous process not read", "file", l.cfg.PinFile, "err", err)
		}
		return
	}
	prev := strings.TrimSpace(string(b))
	for _, g := range info.PriorityGroups {
		if g.Group != PinGroup || prev == "" || g.PinnedClientID != prev {
			continue
		}
		uctx, cancel := context.WithTimeout(ctx, l.cfg.Timeouts.Unpin)
		st, err := l.cfg.JS.Stream(uctx, l.cfg.Source.Stream)
		if err == nil {
			err = st.UnpinConsumer(uctx, l.cfg.Durable, PinGroup)
		}
		cancel()
		if err != nil {
			l.log.Warn("lane still pinned to this router's previous process; waiting for the pin to lapse", "err", err)
			return
		}
		l.log.Info("lane unpinned from this router's previous process", "pin", prev)
	}
}
