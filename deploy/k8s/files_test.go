package k8s_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/bintest"
)

// TestGeneratedCopiesFresh runs `deploy/k8s/sync --check`: the copies of
// rules/ and nats-server.conf under base/generated must match.
func TestGeneratedCopiesFresh(t *testing.T) {
	root, err := bintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bintest.Build(t, "./deploy/k8s/sync"), "--check")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// And the copy is a rule pack the router accepts.
	check := exec.Command(bintest.Build(t, "./router"), "rules", "check", "deploy/k8s/base/generated/rules")
	check.Dir = root
	if out, err := check.CombinedOutput(); err != nil {
		t.Fatalf("router rules check on the generated copy: %v\n%s", err, out)
	}
}

// TestDockerfiles: multi-stage, static, non-root, building the binary they
// run, with the Go version of go.mod and exposing the binary's ops port.
func TestDockerfiles(t *testing.T) {
	mod := string(moduleFile(t, "go.mod"))
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(mod)
	if goVer == nil {
		t.Fatal("go.mod has no go line")
	}
	for _, name := range []string{"collector", "router"} {
		t.Run(name, func(t *testing.T) {
			df := string(moduleFile(t, "deploy/docker/"+name+".Dockerfile"))
			froms := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(df, -1)
			if len(froms) != 2 || !strings.HasPrefix(froms[0][1], "golang:"+goVer[1]) {
				t.Errorf("want a golang:%s build stage and one runtime stage, got %v", goVer[1], froms)
			}
			if len(froms) == 2 && !strings.Contains(froms[1][1], "distroless/static") && froms[1][1] != "scratch" {
				t.Errorf("runtime base %s: want distroless static or scratch", froms[1][1])
			}
			build := regexp.MustCompile(`(?m)^RUN (.*go build.*)$`).FindStringSubmatch(df)
			if build == nil || !strings.Contains(build[1], "CGO_ENABLED=0") || !strings.HasSuffix(build[1], " ./"+name) {
				t.Errorf("build line %v: want CGO_ENABLED=0 go build ... ./%s", build, name)
			}
			entry := regexp.MustCompile(`(?m)^ENTRYPOINT \["([^"]+)"\]`).FindStringSubmatch(df)
			if entry == nil || !strings.Contains(df, "/out/"+name+" "+entry[1]) {
				t.Errorf("ENTRYPOINT %v is not the copied binary", entry)
			}
			user := regexp.MustCompile(`(?m)^USER (\d+)`).FindStringSubmatch(df)
			if user == nil || user[1] == "0" {
				t.Errorf("USER %v: want a numeric non-root user", user)
			}
			expose := regexp.MustCompile(`(?m)^EXPOSE (\d+)`).FindStringSubmatch(df)
			bin := help(t, "./"+name)
			if expose == nil || expose[1] != strconv.Itoa(int(portOf(t, bin.defaults["http"]))) {
				t.Errorf("EXPOSE %v, the binary serves on %s", expose, bin.defaults["http"])
			}
			if name == "router" && user != nil {
				d := deployment(t, render(t, "overlays/example"), "aftershock-router")
				if sc := d.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsUser == nil || strconv.FormatInt(*sc.RunAsUser, 10) != user[1] {
					t.Errorf("router pod runs as %v, the image as %s", sc, user[1])
				}
			}
		})
	}
}

// unit parses a systemd unit into key → values.
func unit(t *testing.T, path string) map[string][]string {
	t.Helper()
	kv := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(moduleFile(t, path)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: bad line %q", path, line)
		}
		kv[k] = append(kv[k], v)
	}
	return kv
}

func TestSystemdUnits(t *testing.T) {
	tests := []struct {
		name string
		want map[string]string
	}{
		{"collector", map[string]string{
			"CapabilityBoundingSet": "CAP_SYSLOG", "AmbientCapabilities": "CAP_SYSLOG",
			"NoNewPrivileges": "yes", "ProtectSystem": "strict", "DeviceAllow": "/dev/kmsg r", "DevicePolicy": "closed",
		}},
		{"router", map[string]string{
			"CapabilityBoundingSet": "", "DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateDevices": "yes",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := unit(t, "deploy/systemd/aftershock-"+tt.name+".service")
			for k, v := range tt.want {
				if len(u[k]) != 1 || u[k][0] != v {
					t.Errorf("%s=%v, want %q", k, u[k], v)
				}
			}
			if len(u["ExecStart"]) != 1 || u["ExecStart"][0] != "/usr/local/bin/aftershock-"+tt.name {
				t.Errorf("ExecStart %v", u["ExecStart"])
			}
			bin := help(t, "./"+tt.name)
			vars := u["Environment"]
			env := string(moduleFile(t, "deploy/systemd/"+tt.name+".env.example"))
			for line := range strings.Lines(env) {
				line = strings.TrimSpace(line)
				if line != "" && line[0] != '#' {
					vars = append(vars, line)
				}
			}
			for _, v := range vars {
				name, _, _ := strings.Cut(v, "=")
				if strings.HasPrefix(name, "AFTERSHOCK_") && !bin.env[name] {
					t.Errorf("%s is not read by the %s", name, tt.name)
				}
			}
			if u["StateDirectory"][0] != "aftershock/"+tt.name {
				t.Errorf("StateDirectory %v", u["StateDirectory"])
			}
		})
	}
}
