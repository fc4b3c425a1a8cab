package event

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const valid = `{"specversion":"1.0","id":"01J0000000000000000000000A","source":"test","type":"node.heartbeat","time":"2020-06-14T13:15:39.123456789Z","cluster":"prod","node":"172.21.128.138","data":{"boot_id":"x"}}`

func TestDecodeValid(t *testing.T) {
	e, err := Decode([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if e.Node != "172.21.128.138" || e.Time.Nanosecond() != 123456789 {
		t.Fatalf("decoded %+v", e)
	}
	if got := e.NATSSubject(false); got != "events.prod.172_21_128_138.heartbeat" {
		t.Fatalf("subject %q", got)
	}
	if got := e.NATSSubject(true); got != "drill.events.prod.172_21_128_138.heartbeat" {
		t.Fatalf("drill subject %q", got)
	}
}

func TestDecodeInvalid(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		is      error
		mention string
	}{
		{"bad json", `{"specversion":`, ErrMalformed, "unexpected EOF"},
		{"not an object", `[1,2]`, ErrMalformed, "cannot unmarshal array"},
		{"trailing", valid + `{}`, ErrMalformed, "trailing"},
		{"missing id", strings.Replace(valid, `"id":"01J0000000000000000000000A",`, "", 1), ErrMissing, "id"},
		{"missing cluster", strings.Replace(valid, `"cluster":"prod",`, "", 1), ErrMissing, "cluster"},
		{"missing node", strings.Replace(valid, `"node":"172.21.128.138",`, "", 1), ErrMissing, "node"},
		{"missing time", strings.Replace(valid, `"time":"2020-06-14T13:15:39.123456789Z",`, "", 1), ErrMissing, "time"},
		{"bad time", strings.Replace(valid, `2020-06-14T13:15:39.123456789Z`, `14/06/2020 13:15`, 1), ErrMalformed, "time"},
		{"wrong specversion", strings.Replace(valid, `"1.0"`, `"0.3"`, 1), ErrSpecVersion, "0.3"},
		{"missing specversion", strings.Replace(valid, `"specversion":"1.0",`, "", 1), ErrMissing, "specversion"},
		{"bad type", strings.Replace(valid, `node.heartbeat`, `Heartbeat`, 1), ErrInvalid, "type"},
		{"id with space", strings.Replace(valid, `01J0000000000000000000000A`, `a b`, 1), ErrInvalid, "id"},
		{"data not object", strings.Replace(valid, `{"boot_id":"x"}`, `"x"`, 1), ErrInvalid, "data"},
		{"oversize", strings.Replace(valid, `"x"`, `"`+strings.Repeat("a", MaxSize)+`"`, 1), ErrTooLarge, "65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode([]byte(tt.in))
			if !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("err %q does not mention %q", err, tt.mention)
			}
		})
	}
}

func TestNewRoundTrip(t *testing.T) {
	at := time.Date(2020, 6, 14, 13, 14, 38, 5, time.FixedZone("CST", 8*3600))
	e, err := New(TypePosture, "src", "prod", "n1", at, Posture{KernelRelease: "4.4.0-104-generic"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Time.Equal(at) || back.ID != e.ID || back.Time.Location() != time.UTC {
		t.Fatalf("round trip changed event: %+v vs %+v", back, e)
	}
	_, err = New(TypePosture, "src", "prod", "n1", at, map[string]string{"x": strings.Repeat("y", MaxSize)})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("New over the size limit: err = %v, want ErrTooLarge", err)
	}
}

func TestIDsSortByTime(t *testing.T) {
	a := NewID(time.Unix(1000, 0))
	b := NewID(time.Unix(1000, 0))
	c := NewID(time.Unix(2000, 0))
	if !(a < b && b < c) {
		t.Fatalf("ids not monotonic: %s %s %s", a, b, c)
	}
}

func TestClassOf(t *testing.T) {
	tests := map[string]Class{
		TypeKernelBug: ClassKernel, TypeReboot: ClassReboot, TypeHeartbeat: ClassHeartbeat,
		TypePosture: ClassPosture, TypeDNSTimeout: ClassDNS, TypeRPCTimeout: ClassRPC,
		TypeAlertmanagerAlert: ClassApp, "node.other": ClassApp, TypeTest: ClassApp,
	}
	for typ, want := range tests {
		if got := ClassOf(typ); got != want {
			t.Errorf("ClassOf(%q) = %q, want %q", typ, got, want)
		}
	}
}

func TestIsDrill(t *testing.T) {
	tests := []struct {
		subject string
		drill   bool
		err     bool
	}{
		{"events.c.n.kernel", false, false},
		{"drill.events.c.n.kernel", true, false},
		{"alerts.live.x", false, true},
		{"eventsx.c", false, true},
	}
	for _, tt := range tests {
		d, err := IsDrill(tt.subject)
		if d != tt.drill || (err != nil) != tt.err {
			t.Errorf("IsDrill(%q) = %v, %v", tt.subject, d, err)
		}
	}
}

func TestCheckSubject(t *testing.T) {
	e, err := Decode([]byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		subject string
		ok      bool
	}{
		{"events.prod.172_21_128_138.heartbeat", true},
		{"events.prod.172_21_128_138.app", true},
		{"events.prod.172_21_128_139.heartbeat", false},
		{"events.staging.172_21_128_138.heartbeat", false},
		{"events.prod.172_21_128_1388.heartbeat", false},
		{"drill.events.prod.replay.app", true},
		{"alerts.live.x", false},
	}
	for _, tt := range tests {
		err := e.CheckSubject(tt.subject)
		if (err == nil) != tt.ok {
			t.Errorf("CheckSubject(%q) = %v", tt.subject, err)
		}
	}
	if err := e.CheckSubject("events.prod.x.app"); !errors.Is(err, ErrSubjectMismatch) {
		t.Errorf("mismatch error %v is not ErrSubjectMismatch", err)
	}
}

func TestDecodeForFillsOnlyWhatIsMissing(t *testing.T) {
	noWhere := strings.Replace(strings.Replace(valid, `"cluster":"prod",`, "", 1), `"node":"172.21.128.138",`, "", 1)
	e, err := DecodeFor([]byte(noWhere), "c1", "n1")
	if err != nil || e.Cluster != "c1" || e.Node != "n1" {
		t.Fatalf("DecodeFor = %+v, %v", e, err)
	}
	e, err = DecodeFor([]byte(valid), "c1", "n1")
	if err != nil || e.Cluster != "prod" || e.Node != "172.21.128.138" {
		t.Fatalf("DecodeFor overrode the event's own cluster/node: %+v, %v", e, err)
	}
	if _, err := Decode([]byte(noWhere)); !errors.Is(err, ErrMissing) {
		t.Fatalf("Decode without cluster/node: %v", err)
	}
}
