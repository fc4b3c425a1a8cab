package kmsg

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Options tell the Scanner how to read a saved log.
type Options struct {
	// Format of the input; FormatAuto detects it from the first block.
	Format Format
	// BootTime anchors since-boot timestamps (kmsg, dmesg); zero leaves
	// Line.Time zero for them.
	BootTime time.Time
	// Year completes syslog timestamps, which have none; zero means the
	// current year.
	Year int
	// Location of syslog and dmesg -T timestamps; nil means time.Local.
	Location *time.Location
}

func (o *Options) loc() *time.Location {
	if o.Location == nil {
		return time.Local
	}
	return o.Location
}

// blockSize is how much the Scanner reads at once; a longer line is cut
// there (the kernel's own limit is about 1 KiB per line, 8 KiB per record).
const blockSize = 64 << 10

// Scanner reads Lines from a saved log. Like bufio.Scanner, call Scan until
// it returns false, then check Err.
type Scanner struct {
	r      io.Reader
	opts   Options
	js     journalState
	buf    []byte
	block  string // the current block as one string; lines are substrings of it
	pos    int
	eof    bool
	skip   bool // discarding the rest of an over-long line
	err    error
	line   Line
	stats  Stats
	detect bool
}

// Stats counts what a Scanner saw.
type Stats struct {
	Lines int // lines read, including skipped ones
	// Skipped lines are other programs' journal lines, journal notes and
	// kmsg continuation lines.
	Skipped int
	// Malformed lines did not parse in the format; their text is passed on
	// with no timestamp, so nothing is lost.
	Malformed int
	// Truncated lines were longer than the block size and cut.
	Truncated int
}

// NewScanner reads r in the format of opts.
func NewScanner(r io.Reader, opts Options) *Scanner {
	if opts.Year == 0 {
		opts.Year = time.Now().Year()
	}
	return &Scanner{
		r:      r,
		opts:   opts,
		js:     journalState{year: opts.Year},
		buf:    make([]byte, 0, blockSize),
		detect: opts.Format == FormatAuto,
	}
}

// Format is the format being read (the detected one after the first Scan).
func (s *Scanner) Format() Format { return s.opts.Format }

// Stats returns the counts so far.
func (s *Scanner) Stats() Stats { return s.stats }

// Err returns the first read error other than io.EOF.
func (s *Scanner) Err() error { return s.err }

// Line returns the line read by the last Scan. Its Text is a substring of
// the Scanner's block: it stays valid, and keeps the block alive, for as
// long as it is referenced.
func (s *Scanner) Line() Line { return s.line }

// Scan advances to the next line; it returns false at the end of input or
// on a read error.
func (s *Scanner) Scan() bool {
	for {
		raw, ok := s.next()
		if !ok {
			return false
		}
		s.stats.Lines++
		if len(raw) > 0 && raw[len(raw)-1] == '\r' {
			raw = raw[:len(raw)-1]
		}
		if s.parse(raw) {
			return true
		}
		s.stats.Skipped++
	}
}

// parse fills s.line from raw and reports whether it is a line to return.
func (s *Scanner) parse(raw string) bool {
	switch s.opts.Format {
	case FormatKmsg:
		if raw == "" || raw[0] == ' ' { // continuation: dictionary metadata
			return false
		}
		l, ok := parseKmsgRecord(raw)
		if !ok {
			s.stats.Malformed++
			l = Line{Mono: -1, Level: -1, Text: raw}
		} else if !s.opts.BootTime.IsZero() {
			l.Time = s.opts.BootTime.Add(l.Mono)
		}
		s.line = l
		return true
	case FormatJournal:
		l, kernel, ok := parseJournalLine(raw, &s.opts, &s.js)
		if !ok {
			if raw == "" {
				return false
			}
			s.stats.Malformed++
			l = Line{Mono: -1, Level: -1, Text: raw}
			kernel = true
		}
		s.line = l
		return kernel
	default:
		if raw == "" {
			return false
		}
		s.line = parseDmesgLine(raw, &s.opts)
		return true
	}
}

// next returns the next raw line without its newline.
func (s *Scanner) next() (string, bool) {
	for {
		rest := s.block[s.pos:]
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			s.pos += i + 1
			if s.skip { // the rest of an over-long line
				s.skip = false
				continue
			}
			return rest[:i], true
		}
		if s.eof {
			s.pos = len(s.block)
			if rest == "" || s.skip {
				s.skip = false
				return "", false
			}
			return rest, true
		}
		if len(rest) >= blockSize {
			// A line longer than a block: hand out its start, drop the rest.
			s.pos = len(s.block)
			if !s.skip {
				s.skip = true
				s.stats.Truncated++
				return rest, true
			}
		}
		s.fill()
	}
}

// fill keeps the unfinished last line and reads more after it, up to a
// newline or a full block.
func (s *Scanner) fill() {
	s.buf = append(s.buf[:0], s.block[s.pos:]...)
	for len(s.buf) < cap(s.buf) {
		n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
		s.buf = s.buf[:len(s.buf)+n]
		if err != nil {
			if !errors.Is(err, io.EOF) {
				s.err = fmt.Errorf("read log: %w", err)
			}
			s.eof = true
			break
		}
		if n > 0 && bytes.IndexByte(s.buf[len(s.buf)-n:], '\n') >= 0 {
			break
		}
	}
	s.block = string(s.buf)
	s.pos = 0
	if s.detect {
		s.detect = false
		s.opts.Format = Detect(s.block)
	}
}
