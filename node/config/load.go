package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load builds the configuration for a subcommand from defaults, the YAML file named by --config
// (or NODE_CONFIG), NODE_* environment variables (looked up with env) and flags in args. It
// returns the flags' positional arguments too. Every error is a *Error or a flag error naming the key.
func Load(name string, args []string, env func(string) (string, bool), stderr io.Writer) (Config, []string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML configuration file (also NODE_CONFIG)")
	flagVals := map[string]*string{}
	for _, k := range keys {
		flagVals[k.name] = fs.String(k.name, "", fmt.Sprintf("%s (env %s, default %q)", k.help, EnvName(k.name), k.def))
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: node %s [--config FILE] [--key value ...]\n\nkeys:\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, err
	}
	c := Default()
	path := *configPath
	if path == "" {
		path, _ = env("NODE_CONFIG")
	}
	if path != "" {
		if err := applyFile(&c, path); err != nil {
			return Config{}, nil, err
		}
	}
	for _, k := range keys {
		if v, ok := env(EnvName(k.name)); ok {
			if err := k.set(&c, v); err != nil {
				return Config{}, nil, &Error{Key: k.name, Source: "env " + EnvName(k.name), Err: err}
			}
		}
	}
	var ferr error
	fs.Visit(func(f *flag.Flag) {
		k, ok := lookup(f.Name)
		if !ok || ferr != nil {
			return
		}
		if err := k.set(&c, *flagVals[f.Name]); err != nil {
			ferr = &Error{Key: k.name, Source: "flag --" + k.name, Err: err}
		}
	})
	if ferr != nil {
		return Config{}, nil, ferr
	}
	if err := c.resolveTokenFile(); err != nil {
		return Config{}, nil, err
	}
	if _, err := c.SourceTLS(); err != nil {
		return Config{}, nil, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, nil, err
	}
	return c, fs.Args(), nil
}

// OSEnv looks variables up in the process environment.
func OSEnv(k string) (string, bool) { return os.LookupEnv(k) }

func applyFile(c *Config, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return &Error{Key: "config", Source: "flag --config", Err: err}
	}
	return ApplyYAML(c, path, b)
}

// ApplyYAML sets keys from a YAML mapping; unknown keys and non-scalar values are errors naming
// the key and line.
func ApplyYAML(c *Config, name string, b []byte) error {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return &Error{Key: "config", Source: "file " + name, Err: fmt.Errorf("not valid YAML: %w", err)}
	}
	if len(doc.Content) == 0 {
		return nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return &Error{Key: "config", Source: "file " + name, Err: fmt.Errorf("line %d: want a mapping of key: value", m.Line)}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn, vn := m.Content[i], m.Content[i+1]
		src := fmt.Sprintf("file %s line %d", name, kn.Line)
		k, ok := lookup(kn.Value)
		if !ok {
			return &Error{Key: kn.Value, Source: src, Err: fmt.Errorf("unknown key (known: %s)", strings.Join(names(), ", "))}
		}
		if vn.Kind != yaml.ScalarNode {
			return &Error{Key: k.name, Source: src, Err: errors.New("want a single value")}
		}
		v := vn.Value
		if vn.Tag == "!!null" {
			v = ""
		}
		if err := k.set(c, v); err != nil {
			return &Error{Key: k.name, Source: src, Err: err}
		}
	}
	return nil
}

func names() []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.name
	}
	sort.Strings(out)
	return out
}

// UnknownEnv lists NODE_* variables in environ that are not configuration keys (NODE_CONFIG and
// Node.js's own NODE_* variables excepted), so a typo in a task definition can be caught.
func UnknownEnv(environ []string) []string {
	known := map[string]bool{"NODE_CONFIG": true}
	for _, k := range keys {
		known[EnvName(k.name)] = true
	}
	nodejs := map[string]bool{"NODE_OPTIONS": true, "NODE_PATH": true, "NODE_ENV": true, "NODE_EXTRA_CA_CERTS": true,
		"NODE_NO_WARNINGS": true, "NODE_TLS_REJECT_UNAUTHORIZED": true, "NODE_DEBUG": true, "NODE_VERSION": true}
	var out []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "NODE_") && !known[k] && !nodejs[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// YAML renders the configuration as a YAML file of every key (the token redacted).
func (c *Config) YAML() string {
	var sb strings.Builder
	for _, k := range keys {
		v := k.get(c)
		if (k.name == "auth_token" || k.name == "source_users") && v != "" {
			v = "<redacted>"
		}
		if k.name == "cluster_db" || k.name == "persistence_db" {
			v = redact(v)
		}
		fmt.Fprintf(&sb, "%s: %q\n", k.name, v)
	}
	return sb.String()
}
