package kafkaconf

import (
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	t.Setenv("KC_BROKERS", "b1:9092,b2:9092")
	got, err := Expand("${KC_BROKERS},b3:9092")
	if err != nil || got != "b1:9092,b2:9092,b3:9092" {
		t.Fatalf("Expand = %q, %v", got, err)
	}
	if _, err := ExpandAll(map[string]string{"bootstrap.servers": "${KC_NOT_SET_ANYWHERE}"}); err == nil ||
		!strings.Contains(err.Error(), "bootstrap.servers") || !strings.Contains(err.Error(), "KC_NOT_SET_ANYWHERE") {
		t.Fatalf("unset variable: %v", err)
	}
	if got, _ := Expand("plain $HOME {x}"); got != "plain $HOME {x}" {
		t.Fatalf("only ${NAME} is substituted: %q", got)
	}
}

func TestBrokersAndOptional(t *testing.T) {
	if b, err := Brokers(" a:1 , b:2"); err != nil || len(b) != 2 || b[1] != "b:2" {
		t.Fatalf("Brokers = %v, %v", b, err)
	}
	for _, bad := range []string{"", "nohost", "a:1,b"} {
		if _, err := Brokers(bad); err == nil {
			t.Errorf("Brokers(%q) accepted", bad)
		}
	}
	o, err := ParseOptional("security.protocol:SSL, auto.offset.reset:latest", "security.protocol", "auto.offset.reset")
	if err != nil || !o.TLS || !o.Latest {
		t.Fatalf("ParseOptional = %+v, %v", o, err)
	}
	if _, err := ParseOptional("auto.offset.reset:latest", "security.protocol"); err == nil || !strings.Contains(err.Error(), "auto.offset.reset") {
		t.Fatalf("a key the caller does not allow: %v", err)
	}
	if _, err := ParseOptional("security.protocol:SASL_SSL", "security.protocol"); err == nil {
		t.Fatal("SASL accepted")
	}
}
