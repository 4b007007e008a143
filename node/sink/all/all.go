// Package all registers every built-in sink type (file, http, kafka, log); import it for its
// side effect wherever sinks are validated or opened.
package all

import (
	_ "github.com/streamha/streamha/node/sink/file"  // @sink(type='file')
	_ "github.com/streamha/streamha/node/sink/http"  // @sink(type='http')
	_ "github.com/streamha/streamha/node/sink/kafka" // @sink(type='kafka')
	_ "github.com/streamha/streamha/node/sink/log"   // @sink(type='log')
)
