package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/aftershock/aftershock/internal/event"
)

// A segment file is a sequence of records, each framed as
//
//	length  uint32 big-endian, bytes of payload
//	crc     uint32 big-endian, CRC-32C of payload
//	payload one encoded CloudEvent
//
// A crash in the middle of a write leaves a short header, a short payload or
// a checksum mismatch at the end of the last segment; recovery truncates the
// file there so the next start is never blocked by it.
const (
	frameHeader = 8
	maxPayload  = event.MaxSize
	segSuffix   = ".seg"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errTorn marks a record that is not whole: a torn write or corruption.
var errTorn = errors.New("torn or corrupt record")

func segName(seq uint64) string {
	return fmt.Sprintf("%020d%s", seq, segSuffix)
}

// listSegments returns the sequence numbers of the segment files in dir,
// oldest first. Files that are not segments are ignored.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var seqs []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segSuffix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		n, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, n)
	}
	slices.Sort(seqs)
	return seqs, nil
}

func appendFrame(buf, payload []byte) []byte {
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(payload)))
	buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(payload, castagnoli))
	return append(buf, payload...)
}

// reader reads records sequentially from a segment file.
type reader struct {
	f   *os.File
	br  *bufio.Reader
	off int64 // offset of the next record
	buf []byte
	hdr [frameHeader]byte
}

func openReader(path string, off int64) (*reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return &reader{f: f, br: bufio.NewReaderSize(f, 16<<10), off: off}, nil
}

// next returns the next record's payload (valid until the following call)
// and its offset. It returns io.EOF at a clean end and errTorn at a partial
// or corrupt record.
func (r *reader) next() ([]byte, int64, error) {
	at := r.off
	if _, err := io.ReadFull(r.br, r.hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, at, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, at, fmt.Errorf("%w: short header at offset %d", errTorn, at)
		}
		return nil, at, err
	}
	n := binary.BigEndian.Uint32(r.hdr[:4])
	sum := binary.BigEndian.Uint32(r.hdr[4:])
	if n == 0 || n > maxPayload {
		return nil, at, fmt.Errorf("%w: length %d at offset %d", errTorn, n, at)
	}
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, n)
	}
	p := r.buf[:n]
	if _, err := io.ReadFull(r.br, p); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, at, fmt.Errorf("%w: short payload at offset %d", errTorn, at)
		}
		return nil, at, err
	}
	if crc32.Checksum(p, castagnoli) != sum {
		return nil, at, fmt.Errorf("%w: checksum mismatch at offset %d", errTorn, at)
	}
	r.off = at + frameHeader + int64(n)
	return p, at, nil
}

func (r *reader) close() { r.f.Close() }

// scanned is what a full read of a segment found.
type scanned struct {
	records int   // whole records from the start offset
	good    int64 // end of the last whole record
	torn    error // the first bad frame, if any
}

// scanSegment counts the whole records of path from off, calling fn (which
// may be nil) with each payload.
func scanSegment(path string, off int64, fn func(p []byte)) (scanned, error) {
	r, err := openReader(path, off)
	if err != nil {
		return scanned{}, err
	}
	defer r.close()
	s := scanned{good: off}
	for {
		p, _, err := r.next()
		switch {
		case err == nil:
			s.records++
			s.good = r.off
			if fn != nil {
				fn(p)
			}
		case errors.Is(err, io.EOF):
			return s, nil
		case errors.Is(err, errTorn):
			s.torn = err
			return s, nil
		default:
			return s, fmt.Errorf("read %s: %w", filepath.Base(path), err)
		}
	}
}
