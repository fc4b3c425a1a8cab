package duration_test

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/aftershock/aftershock/internal/duration"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string // "" means valid
	}{
		{"90s", 90 * time.Second, ""},
		{"4h30m", 4*time.Hour + 30*time.Minute, ""},
		{"7d", 7 * 24 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"0s", 0, ""},
		{"0d", 0, ""},
		{"-5m", 0, "negative"},
		{"-1d", 0, `invalid duration "-1d"`},
		{"xd", 0, `invalid duration "xd"`},
		{"01d", 0, `invalid duration "01d"`},
		{"1d1d", 0, `invalid duration "1d1d"`},
		{"5 minutes", 0, `invalid duration "5 minutes" (want e.g.`},
		{"", 0, `invalid duration ""`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := duration.Parse(tt.in)
			switch {
			case tt.err == "" && (err != nil || got != tt.want):
				t.Fatalf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("Parse(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.err)
			}
		})
	}
}

func TestYAML(t *testing.T) {
	var v struct {
		A duration.Duration `yaml:"a"`
	}
	if err := yaml.Unmarshal([]byte("a: 1d2h\n"), &v); err != nil || v.A.Std() != 26*time.Hour {
		t.Fatalf("%v, %v", v.A, err)
	}
	err := yaml.Unmarshal([]byte("\na: soon\n"), &v)
	if err == nil || !strings.Contains(err.Error(), `line 2: invalid duration "soon"`) {
		t.Fatalf("err %v", err)
	}
	if b, _ := v.A.MarshalText(); string(b) != "26h0m0s" {
		t.Fatalf("MarshalText %s", b)
	}
}
