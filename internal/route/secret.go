package route

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SecretRef says where a secret is: an environment variable or a file. The
// routing file lives in the rules repository, so it can name a secret but
// never hold one.
type SecretRef struct {
	Env  string `yaml:"env"`
	File string `yaml:"file"`
}

// UnmarshalYAML takes {env: VAR} or {file: PATH} and rejects a literal
// value without echoing it.
func (s *SecretRef) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a secret is never written in the routing file: use {env: VAR} or {file: PATH}", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: %s: want a string", v.Line, k.Value)
		}
		switch k.Value {
		case "env":
			s.Env = v.Value
		case "file":
			s.File = v.Value
		default:
			return fmt.Errorf("line %d: field %s not found in secret (want env or file)", k.Line, k.Value)
		}
	}
	return nil
}

func (s *SecretRef) check() error {
	switch {
	case s.Env == "" && s.File == "":
		return errors.New("set env or file")
	case s.Env != "" && s.File != "":
		return errors.New("set env or file, not both")
	}
	return nil
}

// String says where the secret is, never what it is.
func (s *SecretRef) String() string {
	if s.Env != "" {
		return "$" + s.Env
	}
	return "file " + s.File
}

// Resolve reads the secret. getenv is os.Getenv outside tests.
func (s *SecretRef) Resolve(getenv func(string) string) (Secret, error) {
	if s.Env != "" {
		v := strings.TrimSpace(getenv(s.Env))
		if v == "" {
			return "", fmt.Errorf("secret %s: environment variable is empty or unset", s)
		}
		return Secret(v), nil
	}
	b, err := os.ReadFile(s.File)
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", s, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("secret %s: file is empty", s)
	}
	return Secret(v), nil
}

// Secret is a resolved secret. Every way of printing it prints a mask; use
// Reveal where the value must be sent.
type Secret string

const redacted = "<redacted>"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String masks the secret.
func (s Secret) String() string { return redacted }

// GoString masks the secret in %#v.
func (s Secret) GoString() string { return redacted }

// LogValue masks the secret in slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON masks the secret in JSON.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }
