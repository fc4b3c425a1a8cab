package natssec

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/nats-io/nkeys"

	"github.com/aftershock/aftershock/internal/atomicfile"
)

// Store is a directory of nkey seeds, one file per user, from which the
// server's user list is rendered. Seeds are created once and kept: rerunning
// with more nodes adds users and changes no existing credential.
//
//	DIR/router.nk, DIR/ingest.nk, DIR/operator.nk, DIR/system.nk
//	DIR/collectors/<cluster>/<node>.nk
//	DIR/auth.conf (rendered, public keys only)
type Store struct {
	Dir string
}

// AuthFile is the rendered user list, included by nats-server.conf.
const AuthFile = "auth.conf"

// SeedPath is where the seed of role (and cluster/node for a collector) is
// kept: collectors/<cluster>/<node>.nk with the names as given, so a
// DaemonSet finds its file as $(NODE_NAME).nk. Ensure rejects names that are
// not safe file names.
func (s Store) SeedPath(role Role, cluster, node string) string {
	if role == RoleCollector {
		return filepath.Join(s.Dir, "collectors", cluster, node+".nk")
	}
	return filepath.Join(s.Dir, string(role)+".nk")
}

// safeName matches Kubernetes node names (DNS subdomains) and more; it
// excludes '/' and a leading '.', so a name cannot leave the directory.
var safeName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)

// Ensure returns the user of role, creating its seed file if it does not
// exist yet; created reports whether it did.
func (s Store) Ensure(role Role, cluster, node string) (u User, created bool, err error) {
	if role == RoleCollector && (!safeName.MatchString(cluster) || !safeName.MatchString(node)) {
		return User{}, false, fmt.Errorf("collector user %q/%q: cluster and node must be names of letters, digits, '.', '_' or '-'", cluster, node)
	}
	path := s.SeedPath(role, cluster, node)
	u = User{Role: role}
	if role == RoleCollector {
		u.Cluster, u.Node = cluster, node
	}
	if pub, err := readPublicKey(path); err == nil {
		u.PublicKey = pub
		return u, false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return User{}, false, err
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return User{}, false, fmt.Errorf("create nkey for %s: %w", u.Name(), err)
	}
	seed, err := kp.Seed()
	if err != nil {
		return User{}, false, err
	}
	if u.PublicKey, err = kp.PublicKey(); err != nil {
		return User{}, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return User{}, false, err
	}
	// O_EXCL: two concurrent runs must not hand out two different seeds.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return User{}, false, fmt.Errorf("write seed of %s: %w", u.Name(), err)
	}
	if _, err := f.Write(append(seed, '\n')); err != nil {
		f.Close()
		return User{}, false, fmt.Errorf("write seed of %s: %w", u.Name(), err)
	}
	if err := f.Close(); err != nil {
		return User{}, false, err
	}
	return u, true, nil
}

// Users reads every seed in the store: the fixed roles that exist, then the
// collectors sorted by cluster and node.
func (s Store) Users() ([]User, error) {
	var users []User
	for _, role := range []Role{RoleSystem, RoleRouter, RoleIngest, RoleOperator} {
		path := s.SeedPath(role, "", "")
		pub, err := readPublicKey(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		users = append(users, User{Role: role, PublicKey: pub})
	}
	var collectors []User
	root := filepath.Join(s.Dir, "collectors")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path == root {
			return fs.SkipDir
		}
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".nk") {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) != 2 {
			return fmt.Errorf("%s: want collectors/<cluster>/<node>.nk", path)
		}
		pub, err := readPublicKey(path)
		if err != nil {
			return err
		}
		collectors = append(collectors, User{
			Role: RoleCollector, Cluster: parts[0], Node: strings.TrimSuffix(parts[1], ".nk"), PublicKey: pub,
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(collectors, func(a, b User) int {
		return strings.Compare(a.Cluster+"/"+a.Node, b.Cluster+"/"+b.Node)
	})
	return append(users, collectors...), nil
}

// readPublicKey reads a user seed file and returns its public key; a file
// that is not a user seed is an error naming the file.
func readPublicKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	kp, err := nkeys.FromSeed(bytes.TrimSpace(b))
	if err != nil {
		return "", fmt.Errorf("%s: not an nkey seed: %w", path, err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if !nkeys.IsValidPublicUserKey(pub) {
		return "", fmt.Errorf("%s: seed is not a user key", path)
	}
	return pub, nil
}

// WriteAuth renders every user in the store into DIR/auth.conf.
func (s Store) WriteAuth() ([]User, error) {
	users, err := s.Users()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := RenderAuth(&buf, users); err != nil {
		return nil, err
	}
	return users, atomicfile.Write(filepath.Join(s.Dir, AuthFile), buf.Bytes(), 0o644)
}
