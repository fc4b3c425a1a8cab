package chaos

import (
	"context"
	"strings"
	"testing"
)

// TestRunRefusesRoutersWithoutPartitions: several routers without
// partitions would share one consumer and split each group's events; the
// run says so before starting anything.
func TestRunRefusesRoutersWithoutPartitions(t *testing.T) {
	_, err := Run(context.Background(), Options{Routers: 2, Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "need partitions") {
		t.Fatalf("err = %v, want one saying routers need partitions", err)
	}
}
