package bus

import (
	"flag"
	"os"
)

// RegisterFlags registers the NATS connection flags every command shares on
// fs, writing into o: --nats, --nats-creds, --nats-nkey, --tls-ca,
// --tls-cert and --tls-key, each defaulting to its AFTERSHOCK_* variable.
// What an unset --nats means differs by command (a collector dials
// loopback, a router starts an embedded server), so defaultURL and
// urlUsage are the caller's.
func (o *Options) RegisterFlags(fs *flag.FlagSet, defaultURL, urlUsage string) {
	fs.StringVar(&o.URL, "nats", envOr("AFTERSHOCK_NATS_URL", defaultURL), urlUsage+" [$AFTERSHOCK_NATS_URL]")
	fs.StringVar(&o.Creds, "nats-creds", os.Getenv("AFTERSHOCK_NATS_CREDS"), "NATS credentials file [$AFTERSHOCK_NATS_CREDS]")
	fs.StringVar(&o.NKey, "nats-nkey", os.Getenv("AFTERSHOCK_NATS_NKEY"), "NATS nkey seed file [$AFTERSHOCK_NATS_NKEY]")
	fs.StringVar(&o.TLSCA, "tls-ca", os.Getenv("AFTERSHOCK_TLS_CA"), "CA bundle to verify the NATS server [$AFTERSHOCK_TLS_CA]")
	fs.StringVar(&o.TLSCert, "tls-cert", os.Getenv("AFTERSHOCK_TLS_CERT"), "client certificate for NATS [$AFTERSHOCK_TLS_CERT]")
	fs.StringVar(&o.TLSKey, "tls-key", os.Getenv("AFTERSHOCK_TLS_KEY"), "client key for NATS [$AFTERSHOCK_TLS_KEY]")
}

// envOr is $key, or def when it is unset or empty.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
