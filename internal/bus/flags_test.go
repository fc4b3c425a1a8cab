package bus_test

import (
	"flag"
	"io"
	"testing"

	"github.com/aftershock/aftershock/internal/bus"
)

var natsEnv = []string{
	"AFTERSHOCK_NATS_URL", "AFTERSHOCK_NATS_CREDS", "AFTERSHOCK_NATS_NKEY",
	"AFTERSHOCK_TLS_CA", "AFTERSHOCK_TLS_CERT", "AFTERSHOCK_TLS_KEY",
}

func TestRegisterFlags(t *testing.T) {
	tests := []struct {
		name       string
		defaultURL string
		env        map[string]string
		args       []string
		want       bus.Options
	}{
		{
			name:       "defaults, nothing set",
			defaultURL: "nats://127.0.0.1:4222",
			want:       bus.Options{URL: "nats://127.0.0.1:4222"},
		},
		{
			name: "empty default (embedded)",
			want: bus.Options{},
		},
		{
			name:       "environment",
			defaultURL: "nats://127.0.0.1:4222",
			env: map[string]string{
				"AFTERSHOCK_NATS_URL": "nats://a:4222,nats://b:4222", "AFTERSHOCK_NATS_CREDS": "/c.creds", "AFTERSHOCK_NATS_NKEY": "/n.nk",
				"AFTERSHOCK_TLS_CA": "/ca.pem", "AFTERSHOCK_TLS_CERT": "/cert.pem", "AFTERSHOCK_TLS_KEY": "/key.pem",
			},
			want: bus.Options{URL: "nats://a:4222,nats://b:4222", Creds: "/c.creds", NKey: "/n.nk", TLSCA: "/ca.pem", TLSCert: "/cert.pem", TLSKey: "/key.pem"},
		},
		{
			name:       "an empty URL variable keeps the default",
			defaultURL: "nats://127.0.0.1:4222",
			env:        map[string]string{"AFTERSHOCK_NATS_URL": ""},
			want:       bus.Options{URL: "nats://127.0.0.1:4222"},
		},
		{
			name: "flags override the environment",
			env:  map[string]string{"AFTERSHOCK_NATS_URL": "nats://env:4222", "AFTERSHOCK_NATS_NKEY": "/env.nk", "AFTERSHOCK_TLS_CA": "/env-ca.pem"},
			args: []string{"--nats", "nats://flag:4222", "--nats-creds", "/f.creds", "--nats-nkey", "/f.nk",
				"--tls-ca", "/f-ca.pem", "--tls-cert", "/f-cert.pem", "--tls-key", "/f-key.pem"},
			want: bus.Options{URL: "nats://flag:4222", Creds: "/f.creds", NKey: "/f.nk", TLSCA: "/f-ca.pem", TLSCert: "/f-cert.pem", TLSKey: "/f-key.pem"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range natsEnv {
				t.Setenv(k, tt.env[k])
			}
			fs := flag.NewFlagSet("cmd", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var o bus.Options
			o.RegisterFlags(fs, tt.defaultURL, "NATS server URL(s)")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if o.URL != tt.want.URL || o.Creds != tt.want.Creds || o.NKey != tt.want.NKey ||
				o.TLSCA != tt.want.TLSCA || o.TLSCert != tt.want.TLSCert || o.TLSKey != tt.want.TLSKey {
				t.Fatalf("options = %+v\n     want %+v", o, tt.want)
			}
		})
	}
}

// TestRegisterFlagsUsage: the deploy manifests and docs name these flags
// and variables; the help text is the contract.
func TestRegisterFlagsUsage(t *testing.T) {
	for _, k := range natsEnv {
		t.Setenv(k, "")
	}
	fs := flag.NewFlagSet("cmd", flag.ContinueOnError)
	var o bus.Options
	o.RegisterFlags(fs, "nats://127.0.0.1:4222", "NATS server URL(s); what empty means here")
	want := map[string]string{
		"nats":       "NATS server URL(s); what empty means here [$AFTERSHOCK_NATS_URL]",
		"nats-creds": "NATS credentials file [$AFTERSHOCK_NATS_CREDS]",
		"nats-nkey":  "NATS nkey seed file [$AFTERSHOCK_NATS_NKEY]",
		"tls-ca":     "CA bundle to verify the NATS server [$AFTERSHOCK_TLS_CA]",
		"tls-cert":   "client certificate for NATS [$AFTERSHOCK_TLS_CERT]",
		"tls-key":    "client key for NATS [$AFTERSHOCK_TLS_KEY]",
	}
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		if w, ok := want[f.Name]; !ok || f.Usage != w {
			t.Errorf("--%s usage %q, want %q", f.Name, f.Usage, w)
		}
	})
	if n != len(want) {
		t.Errorf("%d flags registered, want %d", n, len(want))
	}
	if got := fs.Lookup("nats").DefValue; got != "nats://127.0.0.1:4222" {
		t.Errorf("--nats default %q", got)
	}
}
