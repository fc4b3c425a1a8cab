package kernel

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/kmsg"
)

// ScanOptions configure an offline scan of saved kernel logs.
type ScanOptions struct {
	// Log says how to read the files (format, boot time, year, zone).
	Log     kmsg.Options
	Pack    *Pack
	Matcher Options
	// Cluster, Node and Source fill the envelopes of the printed events.
	Cluster string
	Node    string
	Source  string
}

// ScanStats sums what a scan read and found.
type ScanStats struct {
	Files     int
	Lines     int
	Malformed int
	Events    int
}

// ScanFiles classifies each file (one log each; "-" is stdin) and writes
// the events it would publish to out, one CloudEvent JSON per line. A file
// that cannot be read is reported in the returned error after the others
// were scanned.
func ScanFiles(ctx context.Context, out io.Writer, stdin io.Reader, names []string, o ScanOptions) (ScanStats, error) {
	if o.Pack == nil {
		o.Pack = DefaultPack()
	}
	if o.Source == "" {
		o.Source = "aftershock/collector/scan"
	}
	m := NewMatcher(o.Pack, o.Matcher)
	w := bufio.NewWriter(out)
	var st ScanStats
	var errs []error
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		var r io.Reader = stdin
		if name != "-" {
			f, err := os.Open(name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			r = f
		}
		err := scanOne(m, w, r, o, &st)
		if c, ok := r.(io.Closer); ok && name != "-" {
			c.Close()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("scan %s: %w", name, err))
		}
		st.Files++
	}
	if err := w.Flush(); err != nil {
		errs = append(errs, fmt.Errorf("write: %w", err))
	}
	return st, errors.Join(errs...)
}

func scanOne(m *Matcher, w *bufio.Writer, r io.Reader, o ScanOptions, st *ScanStats) error {
	var errs []error
	stream := m.NewStream(func(f Finding) {
		t := f.Time
		if t.IsZero() {
			t = time.Unix(0, 0) // the log had no timestamps at all
		}
		ev, err := event.New(f.Type, o.Source, o.Cluster, o.Node, t, f.Data)
		if err != nil { // not expected: reports are bounded
			errs = append(errs, err)
			return
		}
		b, _ := ev.Encode() // New encoded it once already
		if _, err := w.Write(append(b, '\n')); err != nil {
			errs = append(errs, fmt.Errorf("write: %w", err))
			return
		}
		st.Events++
	})
	sc := kmsg.NewScanner(r, o.Log)
	for sc.Scan() {
		stream.Feed(sc.Line())
	}
	stream.Flush()
	s := sc.Stats()
	st.Lines += s.Lines
	st.Malformed += s.Malformed
	return errors.Join(append(errs, sc.Err())...)
}
