package contract

import (
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestSplitList(t *testing.T) {
	for in, want := range map[string][]string{
		"":              nil,
		" , ,":          nil,
		"a":             {"a"},
		" a , b,a,, c ": {"a", "b", "c"},
	} {
		if got := SplitList(in); !reflect.DeepEqual(got, want) {
			t.Errorf("SplitList(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWrappedLabelValue(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3":                       "v1.2.3",
		"v0.4.0-12-gabc1234-dirty":     "v0.4.0-12-gabc1234-dirty",
		"v1.0.0+build.5":               "v1.0.0_build.5",
		"-x-":                          "x",
		"":                             "unknown",
		"+++":                          "unknown",
		strings.Repeat("a", 70):        strings.Repeat("a", 63),
		strings.Repeat("a", 62) + "-b": strings.Repeat("a", 62),
	} {
		got := WrappedLabelValue(in)
		if got != want {
			t.Errorf("WrappedLabelValue(%q) = %q, want %q", in, got, want)
		}
		if msgs := validation.IsValidLabelValue(got); len(msgs) > 0 {
			t.Errorf("WrappedLabelValue(%q) = %q is no label value: %v", in, got, msgs)
		}
	}
}
