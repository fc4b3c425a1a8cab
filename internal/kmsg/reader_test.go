package kmsg

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
	"time"
)

// fifo makes a named pipe standing in for /dev/kmsg and opens its write end
// (read-write, so opening never blocks and the reader sees no EOF until the
// test closes it).
func fifo(t *testing.T) (path string, w *os.File) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "kmsg")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	w, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return path, w
}

func TestReaderFIFO(t *testing.T) {
	path, w := fifo(t)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	boot := time.Date(2020, 6, 14, 0, 0, 0, 0, time.UTC)
	r := NewReader(f, boot)
	// One write per record like the real device, then a record split over
	// two writes, then two records and metadata in one write.
	writes := []string{
		"6,10,1000000,-;first\n SUBSYSTEM=net\n",
		"4,11,2000000,-;sec",
		"ond\n",
		"4,12,3000000,-;third\n4,13,4000000,-;fourth\n",
	}
	for _, s := range writes {
		if _, err := w.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	want := []struct {
		seq  uint64
		text string
	}{{10, "first"}, {11, "second"}, {12, "third"}, {13, "fourth"}}
	for _, wl := range want {
		l, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if l.Seq != wl.seq || l.Text != wl.text || !l.Time.Equal(boot.Add(time.Duration(wl.seq-9)*time.Second)) {
			t.Fatalf("got %+v, want seq %d %q", l, wl.seq, wl.text)
		}
	}
	w.Close()
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the writer closed: %v, want EOF", err)
	}
}

// scripted returns one scripted result per Read: the real device's EPIPE
// cannot be produced on demand, so this reader injects it.
type scripted struct {
	steps []step
}

type step struct {
	data string
	err  error
}

func (s *scripted) Read(p []byte) (int, error) {
	if len(s.steps) == 0 {
		return 0, io.EOF
	}
	st := s.steps[0]
	s.steps = s.steps[1:]
	return copy(p, st.data), st.err
}

func TestReaderOverrunAndGaps(t *testing.T) {
	epipe := &os.PathError{Op: "read", Path: "/dev/kmsg", Err: syscall.EPIPE}
	r := NewReader(&scripted{steps: []step{
		{data: "6,5,1,-;old, handled before the restart\n"},
		{data: "6,6,1,-;also handled\n"},
		{data: "6,9,1,-;after a gap of two\n"},
		{err: epipe},
		{data: "6,20,1,-;after the overrun\n"},
		{data: "not a record\n"},
		{data: "6,21,1,-;last\n"},
	}}, time.Time{})
	r.SkipThrough(6)
	var got []uint64
	for {
		l, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, l.Seq)
	}
	if len(got) != 3 || got[0] != 9 || got[1] != 20 || got[2] != 21 {
		t.Fatalf("read seqs %v, want [9 20 21]", got)
	}
	if r.Lost() != 2+10 || r.Overruns() != 1 || r.Malformed() != 1 {
		t.Fatalf("lost %d overruns %d malformed %d, want 12 1 1", r.Lost(), r.Overruns(), r.Malformed())
	}
}

func TestReaderOtherErrors(t *testing.T) {
	einval := &os.PathError{Op: "read", Path: "/dev/kmsg", Err: syscall.EINVAL}
	r := NewReader(&scripted{steps: []step{{err: einval}}}, time.Time{})
	if _, err := r.Next(); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("got %v, want EINVAL passed on", err)
	}
}

func TestReaderFinalRecordWithoutNewline(t *testing.T) {
	r := NewReader(&scripted{steps: []step{{data: "6,1,1,-;a\n6,2,1,-;b"}}}, time.Time{})
	for _, want := range []string{"a", "b"} {
		l, err := r.Next()
		if err != nil || l.Text != want {
			t.Fatalf("got %q %v, want %q", l.Text, err, want)
		}
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("got %v, want EOF", err)
	}
}

// TestReaderRealDevice reads this machine's /dev/kmsg when the test may
// (it needs CAP_SYSLOG or dmesg_restrict=0): one read per record, no
// EINVAL from the buffer size.
func TestReaderRealDevice(t *testing.T) {
	f, err := os.Open("/dev/kmsg")
	if err != nil {
		t.Skipf("no readable /dev/kmsg: %v", err)
	}
	defer f.Close()
	r := NewReader(f, time.Now())
	var prev uint64
	for i := 0; i < 3; i++ {
		f.SetReadDeadline(time.Now().Add(time.Second))
		l, err := r.Next()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break // fewer than 3 records in the ring buffer
		}
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if i > 0 && l.Seq <= prev {
			t.Fatalf("sequence went from %d to %d", prev, l.Seq)
		}
		prev = l.Seq
	}
}

func TestReaderDataWithEOF(t *testing.T) {
	// A reader may return its last bytes together with io.EOF.
	r := NewReader(iotestDataEOF("6,1,1,-;a\n6,2,1,-;b\n"), time.Time{})
	for _, want := range []string{"a", "b"} {
		l, err := r.Next()
		if err != nil || l.Text != want {
			t.Fatalf("got %q %v, want %q", l.Text, err, want)
		}
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("got %v, want EOF", err)
	}
}

func iotestDataEOF(s string) io.Reader {
	return iotest.DataErrReader(strings.NewReader(s))
}
