package event

import "testing"

const benchDNS = `{"specversion":"1.0","id":"01JDZQ0B5R0000000000000010","source":"aftershock/collector/172.21.128.61","type":"dns.timeout","time":"2020-06-14T13:14:41.123456789Z","subject":"172.21.128.61","datacontenttype":"application/json","cluster":"prod","node":"172.21.128.61","data":{"server":"10.96.0.10:53","name":"kubernetes.default.svc.cluster.local.","transport":"udp","timeout_ms":2000,"count":37,"first":"2020-06-14T13:14:41Z","last":"2020-06-14T13:15:40Z","worst_latency_ms":2000}}`

func BenchmarkDecode(b *testing.B) {
	raw := []byte(benchDNS)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeSlow is encoding/json's path alone, for comparison.
func BenchmarkDecodeSlow(b *testing.B) {
	raw := []byte(benchDNS)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		var e Event
		if err := decodeSlow(raw, &e); err != nil {
			b.Fatal(err)
		}
	}
}
