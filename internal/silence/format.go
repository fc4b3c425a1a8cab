package silence

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Format prints silences as a table for `router silence list`.
func Format(w io.Writer, ss []*Silence, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSTARTS\tENDS\tCREATED BY\tMATCHERS\tCOMMENT")
	for _, s := range ss {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.StateAt(now),
			s.StartsAt.Local().Format(time.DateTime), s.EndsAt.Local().Format(time.DateTime),
			s.CreatedBy, strings.Join(s.Matchers, " "), s.Comment)
	}
	return tw.Flush()
}
