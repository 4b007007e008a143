package main

import (
	"io"

	"github.com/streamha/streamha/node/play"
)

// cmdPlay runs `node play APP.siddhi < events.jsonl > outputs.jsonl` (see package play).
func cmdPlay(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return play.Main(args, stdin, stdout, stderr)
}
