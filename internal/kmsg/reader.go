package kmsg

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"
)

// recordMax is the read buffer: the kernel fails a read(2) with EINVAL when
// a record does not fit (CONSOLE_EXT_LOG_MAX is 8 KiB).
const recordMax = 16 << 10

// Reader reads records from a kmsg device. The real /dev/kmsg returns one
// whole record per read(2), starting at the oldest record still in the ring
// buffer, and fails a read with EPIPE when records were overwritten before
// they were read; the next read goes on from the oldest remaining one.
// Reader also accepts a FIFO or file that returns several records, or part
// of one, per read (tests use that as a fake device): it frames records by
// newline, and drops continuation lines (" KEY=value" metadata).
type Reader struct {
	r        io.Reader
	bootTime time.Time
	buf      []byte
	pending  string // unread part of the last read
	partial  []byte // an incomplete line carried to the next read
	next     uint64 // the sequence number expected next; 0 before the first record
	lost     uint64
	overruns uint64
	bad      uint64
}

// NewReader reads records from r (an opened kmsg device). bootTime anchors
// the records' since-boot timestamps to wall-clock time.
func NewReader(r io.Reader, bootTime time.Time) *Reader {
	return &Reader{r: r, bootTime: bootTime, buf: make([]byte, recordMax)}
}

// SkipThrough makes Next skip records with a sequence number up to and
// including seq (they were handled before a restart). A gap after seq
// counts as lost.
func (r *Reader) SkipThrough(seq uint64) { r.next = seq + 1 }

// Lost is the number of records that were overwritten before they could be
// read, from sequence number gaps.
func (r *Reader) Lost() uint64 { return r.lost }

// Overruns is the number of EPIPE errors the device returned.
func (r *Reader) Overruns() uint64 { return r.overruns }

// Malformed is the number of records that did not parse; they are dropped.
func (r *Reader) Malformed() uint64 { return r.bad }

// Next returns the next record. It blocks as the device does; errors are
// those of the device (io.EOF when a FIFO's writer closes), except EPIPE,
// which is counted and read past.
func (r *Reader) Next() (Line, error) {
	for {
		line, ok, err := r.nextLine()
		if err != nil {
			return Line{}, err
		}
		if !ok {
			continue
		}
		if line == "" || line[0] == ' ' { // continuation line: metadata
			continue
		}
		l, ok := parseKmsgRecord(line)
		if !ok {
			r.bad++
			continue
		}
		if r.next != 0 && l.Seq < r.next {
			continue // handled before a restart
		}
		if r.next != 0 && l.Seq > r.next {
			r.lost += l.Seq - r.next
		}
		r.next = l.Seq + 1
		if !r.bootTime.IsZero() {
			l.Time = r.bootTime.Add(l.Mono)
		}
		return l, nil
	}
}

// nextLine returns the next newline-terminated line. ok is false when a read
// returned no complete line yet.
func (r *Reader) nextLine() (string, bool, error) {
	if r.pending != "" {
		if i := strings.IndexByte(r.pending, '\n'); i >= 0 {
			line := r.pending[:i]
			r.pending = r.pending[i+1:]
			return line, true, nil
		}
		r.partial = append(r.partial[:0], r.pending...)
		r.pending = ""
	}
	n, err := r.r.Read(r.buf)
	if n > 0 {
		chunk := r.buf[:n]
		if len(r.partial) > 0 {
			chunk = append(r.partial, chunk...)
			r.partial = r.partial[:0]
		}
		if len(chunk) > recordMax*4 { // no newline in sight: not a kmsg stream
			r.bad++
			chunk = chunk[:0]
		}
		r.pending = string(chunk)
	}
	if err != nil {
		if errors.Is(err, syscall.EPIPE) {
			r.overruns++
			return "", false, nil
		}
		if errors.Is(err, io.EOF) {
			// Hand out what was read first, a final record without its
			// newline included; EOF comes on the next read.
			if r.pending == "" && len(r.partial) > 0 {
				r.pending = string(r.partial)
				r.partial = r.partial[:0]
			}
			if r.pending != "" {
				if !strings.HasSuffix(r.pending, "\n") {
					r.pending += "\n"
				}
				return "", false, nil
			}
		}
		return "", false, fmt.Errorf("read kmsg: %w", err)
	}
	return "", false, nil
}
