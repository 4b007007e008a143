package main

import (
	"fmt"
	"io"
)

func cmdPlay(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	_, _, _ = args, stdin, stdout
	fmt.Fprintln(stderr, "node play: not built yet")
	return 2
}
