// Package kafkaconf is what the kafka source and sink share: ${ENV} substitution in option
// values, the bootstrap.servers list, optional.configuration, and the franz-go client options
// they give.
package kafkaconf

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Expand replaces every ${NAME} in an option value with the environment variable NAME, as
// Siddhi does for app options; an unset variable is an error naming it (an empty broker list
// would otherwise mean "nothing to connect to" far from the cause).
func Expand(v string) (string, error) {
	var missing []string
	out := envRef.ReplaceAllStringFunc(v, func(ref string) string {
		name := ref[2 : len(ref)-1]
		val, ok := os.LookupEnv(name)
		if !ok {
			missing = append(missing, name)
		}
		return val
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variable %s is not set", strings.Join(missing, ", "))
	}
	return out, nil
}

// ExpandAll expands every value of opts (a copy), naming the option of the first error.
func ExpandAll(opts map[string]string) (map[string]string, error) {
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]string, len(opts))
	for _, k := range keys {
		v, err := Expand(opts[k])
		if err != nil {
			return nil, fmt.Errorf("option %s: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

// Brokers parses bootstrap.servers: host:port[,host:port…].
func Brokers(v string) ([]string, error) {
	var out []string
	for _, b := range strings.Split(v, ",") {
		b = strings.TrimSpace(b)
		if b == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			return nil, fmt.Errorf("bootstrap.servers: %q is not host:port", b)
		}
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("bootstrap.servers is empty")
	}
	return out, nil
}

// Optional is the parsed optional.configuration ('key:value,key:value', Siddhi's format),
// limited to the keys this node understands.
type Optional struct {
	// TLS is security.protocol=SSL: the brokers' TLS listener (MSK's 9094), verified against
	// the system roots.
	TLS bool
	// Latest is auto.offset.reset=latest (source only): a partition nothing is known about
	// starts at its end instead of its start.
	Latest bool
}

// ParseOptional reads optional.configuration; allowed lists the keys the caller accepts.
func ParseOptional(v string, allowed ...string) (Optional, error) {
	var o Optional
	if strings.TrimSpace(v) == "" {
		return o, nil
	}
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), ":")
		k, val = strings.TrimSpace(k), strings.TrimSpace(val)
		if !ok || k == "" {
			return o, fmt.Errorf("optional.configuration: %q is not key:value", kv)
		}
		known := false
		for _, a := range allowed {
			known = known || a == k
		}
		if !known {
			return o, fmt.Errorf("optional.configuration: key %q is not supported (supported: %s)", k, strings.Join(allowed, ", "))
		}
		switch k {
		case "security.protocol":
			switch strings.ToUpper(val) {
			case "PLAINTEXT":
			case "SSL":
				o.TLS = true
			default:
				return o, fmt.Errorf("optional.configuration: security.protocol %q: want PLAINTEXT or SSL (SASL is not supported)", val)
			}
		case "auto.offset.reset":
			switch val {
			case "earliest":
			case "latest":
				o.Latest = true
			default:
				return o, fmt.Errorf("optional.configuration: auto.offset.reset %q: want earliest or latest", val)
			}
		default:
			return o, fmt.Errorf("optional.configuration: key %q is not supported", k)
		}
	}
	return o, nil
}

// ClientOpts are the franz-go options every client of this node uses for brokers and o.
func ClientOpts(brokers []string, o Optional, clientID string) []kgo.Opt {
	// Offset commits and fetches name topics, which versions 10+ (Kafka 4.1) replaced with
	// topic ids: the source's simple group commits stay at version 9, which brokers keep.
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(kmsg.OffsetCommit.Int16(), 9)
	vs.SetMaxKeyVersion(kmsg.OffsetFetch.Int16(), 9)
	opts := []kgo.Opt{
		kgo.MaxVersions(vs),
		kgo.SeedBrokers(brokers...),
		kgo.ClientID(clientID),
		kgo.DialTimeout(5 * time.Second),
		kgo.RetryTimeout(10 * time.Second),
	}
	if o.TLS {
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	return opts
}
