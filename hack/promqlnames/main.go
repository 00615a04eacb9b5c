// Command promqlnames prints the metric names that PromQL expressions
// select, as Prometheus's own parser reads them. test/chart runs it on the
// chart's alert rules and dashboard queries to check that every name they
// query is one graceful-webhook exports.
//
// It reads a JSON array of expressions on stdin and writes a JSON array of
// {"expr", "names"} in the same order. An expression that does not parse,
// or a selector without a plain metric name, is an error naming the
// expression; the exit status is then 1.
//
// It is a module of its own so that the Prometheus module's requirements
// do not raise the versions that graceful-webhook is built with.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Result is one expression's metric names, sorted and distinct.
type Result struct {
	Expr  string   `json:"expr"`
	Names []string `json:"names"`
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "promqlnames:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	var exprs []string
	if err := json.NewDecoder(in).Decode(&exprs); err != nil {
		return fmt.Errorf("reading the expressions (a JSON array of strings): %w", err)
	}
	results := make([]Result, 0, len(exprs))
	for _, e := range exprs {
		names, err := Names(e)
		if err != nil {
			return err
		}
		results = append(results, Result{Expr: e, Names: names})
	}
	return json.NewEncoder(out).Encode(results)
}
