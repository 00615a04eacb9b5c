package main

import (
	"fmt"
	"io"
)

func runServe(_ []string, stderr io.Writer) int {
	fmt.Fprintln(stderr, "graceful-webhook serve: not built yet (issue 4)")
	return 1
}
