package manifest

import (
	"io"
	"log"
)

// nopLogger keeps the registry's request log out of test output.
func nopLogger() *log.Logger { return log.New(io.Discard, "", 0) }
