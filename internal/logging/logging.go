// Package logging sets up a command's structured log from its flags:
// --log-level and --log-format (text for people at a terminal, JSON for log
// collectors, auto choosing by whether stderr is a terminal).
package logging

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"golang.org/x/term"
)

// Flags are the logging flags of a command.
type Flags struct {
	Level  slog.Level
	Format string
}

// Formats --log-format accepts.
const (
	FormatAuto = "auto"
	FormatText = "text"
	FormatJSON = "json"
)

// Register adds --log-level and --log-format (default
// $AFTERSHOCK_LOG_FORMAT, else auto) to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.TextVar(&f.Level, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	def := os.Getenv("AFTERSHOCK_LOG_FORMAT")
	if def == "" {
		def = FormatAuto
	}
	fs.StringVar(&f.Format, "log-format", def, "log format: text (for people), json (for log collectors), auto (text on a terminal, else json) [$AFTERSHOCK_LOG_FORMAT]")
}

// New returns the logger writing to w. With auto, w is a terminal when it
// is an *os.File that is one.
func (f *Flags) New(w io.Writer) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: f.Level}
	format := f.Format
	if format == FormatAuto || format == "" {
		format = FormatJSON
		if IsTerminal(w) {
			format = FormatText
		}
	}
	switch format {
	case FormatText:
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case FormatJSON:
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text, json or auto", f.Format)
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
