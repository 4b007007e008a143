// Command healthcheck is the node container's health check probe: the image is distroless (no
// shell, no curl), so ECS runs this static binary. It GETs the URL given as its only argument
// and exits 0 on HTTP 200, 1 otherwise.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	url := "http://127.0.0.1:9090/health"
	if len(os.Args) > 1 {
		url = os.Args[1]
	}
	os.Exit(probe(url))
}

func probe(url string) int {
	c := &http.Client{Timeout: 4 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "healthcheck:", resp.Status)
		return 1
	}
	return 0
}
