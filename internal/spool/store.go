package spool

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/atomicfile"
)

const cursorFile = "cursor"

// cursorEvery is how many replayed events may pass between cursor writes
// (each is synced to disk, package atomicfile: about a millisecond). A
// crash replays at most this many again, seconds after the first publish:
// well inside the duplicate window, so JetStream drops them.
const cursorEvery = 1024

func (s *Spool) path(seq uint64) string { return filepath.Join(s.opts.Dir, segName(seq)) }

// recover reads the segments, truncates torn tails and positions the head at
// the saved cursor.
func (s *Spool) recover() error {
	seqs, err := listSegments(s.opts.Dir)
	if err != nil {
		return err
	}
	curSeq, curOff, hasCursor := s.loadCursor()
	for _, seq := range seqs {
		if hasCursor && seq < curSeq {
			// Consumed before a crash that came between the cursor write and
			// the removal.
			if err := os.Remove(s.path(seq)); err != nil {
				return err
			}
			continue
		}
		sc, err := scanSegment(s.path(seq), 0, nil)
		if err != nil {
			return err
		}
		if sc.torn != nil {
			s.log.Warn("truncating torn spool record", "segment", segName(seq), "reason", sc.torn)
			if err := os.Truncate(s.path(seq), sc.good); err != nil {
				return fmt.Errorf("truncate %s: %w", segName(seq), err)
			}
		}
		if sc.records == 0 {
			if err := os.Remove(s.path(seq)); err != nil {
				return err
			}
			continue
		}
		s.segs = append(s.segs, segment{seq: seq, size: sc.good, records: sc.records})
		s.records += sc.records
		s.bytes += sc.good
	}
	if len(seqs) > 0 {
		s.nextSeq = seqs[len(seqs)-1] + 1
	}
	if hasCursor {
		s.nextSeq = max(s.nextSeq, curSeq+1)
	}
	if len(s.segs) > 0 && hasCursor && s.segs[0].seq == curSeq {
		if err := s.seekHead(curOff); err != nil {
			return err
		}
	}
	s.loadReports()
	if s.unread() == 0 {
		return s.reset()
	}
	return nil
}

// seekHead places the head at the first record boundary at or after off in
// segs[0].
func (s *Spool) seekHead(off int64) error {
	r, err := openReader(s.path(s.segs[0].seq), 0)
	if err != nil {
		return err
	}
	defer r.close()
	for r.off < off && r.off < s.segs[0].size {
		if _, _, err := r.next(); err != nil {
			break
		}
		s.headConsumed++
	}
	s.headOff = r.off
	if s.headConsumed >= s.segs[0].records {
		return s.popHead()
	}
	return nil
}

// reset empties the spool's files once everything has been published.
func (s *Spool) reset() error {
	s.closeReader()
	if s.w != nil {
		s.w.Close()
		s.w = nil
	}
	for _, sg := range s.segs {
		if err := os.Remove(s.path(sg.seq)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	s.segs, s.headOff, s.headConsumed, s.records, s.bytes = nil, 0, 0, 0, 0
	if err := os.Remove(filepath.Join(s.opts.Dir, cursorFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	s.dirtyCursor = 0
	return nil
}

// popHead removes the consumed head segment.
func (s *Spool) popHead() error {
	if len(s.segs) == 1 {
		return s.reset()
	}
	sg := s.segs[0]
	if s.rd != nil && s.rdSeq == sg.seq {
		s.closeReader()
	}
	s.segs = s.segs[1:]
	s.records -= sg.records
	s.bytes -= sg.size
	s.headOff, s.headConsumed = 0, 0
	if err := os.Remove(s.path(sg.seq)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return s.saveCursor()
}

// append writes one framed record, making room first. The caller holds mu.
func (s *Spool) append(payload []byte) error {
	if s.closed {
		return ErrClosed
	}
	n := int64(frameHeader + len(payload))
	for s.bytes+n > s.opts.MaxBytes && len(s.segs) > 0 {
		if err := s.dropOldest(); err != nil {
			return err
		}
	}
	if s.w == nil || s.segs[len(s.segs)-1].size >= s.opts.SegmentBytes {
		if err := s.roll(); err != nil {
			return err
		}
	}
	last := &s.segs[len(s.segs)-1]
	frame := appendFrame(make([]byte, 0, n), payload)
	if _, err := s.w.Write(frame); err != nil {
		// Cut the partial record so later appends do not land behind it,
		// and start a fresh segment next time.
		_ = s.w.Truncate(last.size)
		s.w.Close()
		s.w = nil
		return fmt.Errorf("write %s: %w", segName(last.seq), err)
	}
	if err := s.w.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", segName(last.seq), err)
	}
	last.size += n
	last.records++
	s.records++
	s.bytes += n
	s.stats.Spooled++
	return nil
}

// roll closes the current segment and opens a new one.
func (s *Spool) roll() error {
	if s.w != nil {
		s.w.Close()
		s.w = nil
	}
	seq := s.nextSeq
	f, err := os.OpenFile(s.path(seq), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("create segment: %w", err)
	}
	syncDir(s.opts.Dir)
	s.nextSeq++
	s.w = f
	s.segs = append(s.segs, segment{seq: seq})
	return nil
}

// dropOldest drops the oldest segment's unread events and records them in
// the drop report.
func (s *Spool) dropOldest() error {
	sg := s.segs[0]
	if len(s.segs) == 1 && s.w != nil {
		s.w.Close()
		s.w = nil
	}
	var first, last time.Time
	sc, err := scanSegment(s.path(sg.seq), s.headOff, func(p []byte) {
		var h struct {
			Time time.Time `json:"time"`
		}
		if json.Unmarshal(p, &h) != nil {
			return
		}
		if first.IsZero() || h.Time.Before(first) {
			first = h.Time
		}
		if h.Time.After(last) {
			last = h.Time
		}
	})
	if err != nil {
		return err
	}
	s.log.Warn("spool full; dropping oldest events", "events", sc.records, "first", first, "last", last)
	s.stats.Dropped += int64(sc.records)
	s.addDrop(sc.records, first, last)
	s.headConsumed = sg.records // everything in it is gone
	return s.popHead()
}

// loadCursor reads "seq offset"; a missing or unreadable cursor means
// replay from the first segment (JetStream dedup absorbs the repeats).
func (s *Spool) loadCursor() (uint64, int64, bool) {
	b, err := os.ReadFile(filepath.Join(s.opts.Dir, cursorFile))
	if err != nil {
		return 0, 0, false
	}
	a, o, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
	seq, err1 := strconv.ParseUint(a, 10, 64)
	off, err2 := strconv.ParseInt(o, 10, 64)
	if !ok || err1 != nil || err2 != nil || off < 0 {
		s.log.Warn("ignoring unreadable spool cursor; replaying from the oldest segment", "cursor", string(b))
		return 0, 0, false
	}
	return seq, off, true
}

func (s *Spool) saveCursor() error {
	s.dirtyCursor = 0
	if len(s.segs) == 0 {
		return nil
	}
	return writeAtomic(filepath.Join(s.opts.Dir, cursorFile), fmt.Appendf(nil, "%d %d\n", s.segs[0].seq, s.headOff))
}

func (s *Spool) closeReader() {
	if s.rd != nil {
		s.rd.close()
		s.rd = nil
	}
}

// writeAtomic replaces path with b (package atomicfile), so a crash
// leaves the old or the new content, never a mix.
func writeAtomic(path string, b []byte) error { return atomicfile.Write(path, b, 0o640) }

func syncDir(dir string) { _ = atomicfile.SyncDir(dir) }
