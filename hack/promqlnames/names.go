package main

import (
	"fmt"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Names parses expr and returns the metric names of its vector and matrix
// selectors, sorted and distinct. A selector must name its metric with an
// equality (foo{...} or {__name__="foo"}): a regular expression on
// __name__ selects names that cannot be checked.
func Names(expr string) ([]string, error) {
	node, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, fmt.Errorf("parsing %q: %w", expr, err)
	}
	var names []string
	var bad error
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok || bad != nil {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name != model.MetricNameLabel {
				continue
			}
			if m.Type != labels.MatchEqual {
				bad = fmt.Errorf("%q: selector %s matches the metric name with %s, not =", expr, vs, m.Type)
				return nil
			}
			name = m.Value
		}
		if name == "" {
			bad = fmt.Errorf("%q: selector %s names no metric", expr, vs)
			return nil
		}
		names = append(names, name)
		return nil
	})
	if bad != nil {
		return nil, bad
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}
