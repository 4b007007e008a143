package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/streamha/streamha/node/config"
	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/sink"
	_ "github.com/streamha/streamha/node/sink/all" // the sink types
	kafkasink "github.com/streamha/streamha/node/sink/kafka"
	"github.com/streamha/streamha/node/source"
)

// LoadApps compiles every *.siddhi file of dir, in name order. A missing dir means no apps; a bad
// app is a configuration error that names the file, line and column (or the stream, for a bad
// @sink option: unknown options are refused, not ignored).
func LoadApps(dir string) ([]*engine.App, error) {
	if dir == "" {
		return nil, nil
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.siddhi"))
	if err != nil {
		return nil, &config.Error{Key: "apps_dir", Err: err}
	}
	if len(files) == 0 {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			return nil, &config.Error{Key: "apps_dir", Err: fmt.Errorf("%s does not exist", dir)}
		}
	}
	sort.Strings(files)
	var apps []*engine.App
	seen := map[string]string{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, &config.Error{Key: "apps_dir", Err: err}
		}
		a, err := engine.Compile(f, string(src))
		if err != nil {
			return nil, &config.Error{Key: "apps_dir", Err: fmt.Errorf("bad app:\n%w", err)}
		}
		for _, st := range a.Streams() {
			for _, spec := range st.Sinks {
				if err := sink.Validate(spec); err != nil {
					return nil, &config.Error{Key: "apps_dir", Err: fmt.Errorf("bad app %s: stream %s: %w", f, st.Name, err)}
				}
				if spec.Type == "kafka" {
					if err := kafkasink.CheckStream(spec, st); err != nil {
						return nil, &config.Error{Key: "apps_dir", Err: fmt.Errorf("bad app %s: stream %s: %w", f, st.Name, err)}
					}
				}
			}
		}
		if err := source.Check(f, a); err != nil {
			return nil, &config.Error{Key: "apps_dir", Err: fmt.Errorf("bad app:\n%w", err)}
		}
		if prev, dup := seen[a.Name()]; dup {
			return nil, &config.Error{Key: "apps_dir", Err: fmt.Errorf("%s and %s both define app %q", prev, f, a.Name())}
		}
		seen[a.Name()] = f
		apps = append(apps, a)
	}
	return apps, nil
}
