// Command invoke runs one of the Lambda functions locally under the AWS Lambda Runtime Interface
// Emulator and invokes it once with an event file: `make invoke FN=healthmirror EVENT=file.json`.
// The function sees this process's environment (CLUSTER_DB_URL, LEDGER_TABLE,
// AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_ECS, …) plus any -env KEY=VALUE. The response goes
// to stdout, the function's logs and EMF lines to stderr.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/streamha/streamha/lambdas/rie"
)

// envFlags collects repeated -env flags.
type envFlags []string

// String joins the collected values (flag.Value).
func (e *envFlags) String() string { return strings.Join(*e, ",") }

// Set appends one KEY=VALUE (flag.Value).
func (e *envFlags) Set(v string) error { *e = append(*e, v); return nil }

func main() {
	fn := flag.String("fn", "", "function: healthmirror, alarmhandler or restarter")
	event := flag.String("event", "", "event JSON file (default: {})")
	timeout := flag.Int("timeout", 120, "function timeout in seconds")
	var env envFlags
	flag.Var(&env, "env", "extra KEY=VALUE for the function (repeatable)")
	flag.Parse()
	if err := run(*fn, *event, *timeout, env); err != nil {
		fmt.Fprintln(os.Stderr, "invoke:", err)
		os.Exit(1)
	}
}

func run(fn, eventFile string, timeout int, env []string) error {
	switch fn {
	case "healthmirror", "alarmhandler", "restarter":
	default:
		return fmt.Errorf("-fn must be healthmirror, alarmhandler or restarter, not %q", fn)
	}
	payload := []byte("{}")
	if eventFile != "" {
		b, err := os.ReadFile(eventFile)
		if err != nil {
			return fmt.Errorf("read event: %w", err)
		}
		payload = b
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, err := os.MkdirTemp("", "streamha-invoke-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	emulator, err := rie.BuildEmulator(ctx, dir)
	if err != nil {
		return err
	}
	bootstrap, err := rie.BuildFunction(ctx, dir, fn)
	if err != nil {
		return err
	}
	p, err := rie.Start(ctx, emulator, bootstrap, rie.Options{Env: env, Timeout: timeout, Tee: os.Stderr})
	if err != nil {
		return err
	}
	defer p.Stop()
	ictx, cancel := context.WithTimeout(ctx, time.Duration(timeout+10)*time.Second)
	defer cancel()
	resp, err := p.Invoke(ictx, payload)
	if err != nil {
		return err
	}
	fmt.Println(string(resp))
	if strings.Contains(string(resp), `"errorMessage"`) {
		return fmt.Errorf("function returned an error")
	}
	return nil
}
