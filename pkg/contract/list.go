package contract

import (
	"slices"
	"strings"
)

// SplitList reads a comma-separated list (graceful.dev/containers, and the
// webhook's list flags): items are trimmed, and empty items and repeats are
// dropped.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}
