package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`sum by (le) (rate(a_bucket{job=~"$job"}[5m])) / on (job) group_left sum(b_total offset 1h)`, []string{"a_bucket", "b_total"}},
		{`{__name__="c_total", job="x"} + c_total`, []string{"c_total"}},
		{`absent(up{job="g"}) or vector(0)`, []string{"up"}},
		{`max_over_time(d[1h:5m])`, []string{"d"}},
		{`1 + 2`, nil},
	} {
		got, err := Names(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: names %v, want %v", tc.expr, got, tc.want)
		}
	}
}

func TestNamesRejects(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{`sum(rate(x[$__rate_interval]))`, "parsing"},
		{`{__name__=~"graceful_.*"}`, "not ="},
		{`rate(foo[5m]`, "parsing"},
	} {
		_, err := Names(tc.expr)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.expr) {
			t.Errorf("%s: error %v, want one naming the expression and %q", tc.expr, err, tc.want)
		}
	}
}

func TestRun(t *testing.T) {
	var out bytes.Buffer
	if err := run(strings.NewReader(`["a + b", "c"]`), &out); err != nil {
		t.Fatal(err)
	}
	if want := `[{"expr":"a + b","names":["a","b"]},{"expr":"c","names":["c"]}]`; strings.TrimSpace(out.String()) != want {
		t.Errorf("output %s, want %s", out.String(), want)
	}
	if err := run(strings.NewReader(`{"not": "a list"}`), &out); err == nil || !strings.Contains(err.Error(), "JSON array") {
		t.Errorf("a non-array input: %v", err)
	}
}
