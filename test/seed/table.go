package seed

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteTable writes the outcomes side by side, one column per pod under
// its heading: PID 1, each process's fate, the container's exit and how
// long the pod took to go after the delete.
func WriteTable(w io.Writer, headings []string, outs []Outcome) error {
	if len(headings) != len(outs) {
		return fmt.Errorf("seed table: %d headings for %d outcomes", len(headings), len(outs))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	row := func(name string, cell func(Outcome) string) {
		cells := []string{name}
		for _, o := range outs {
			cells = append(cells, cell(o))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	fmt.Fprintln(tw, "\t"+strings.Join(headings, "\t"))
	row("PID 1", func(o Outcome) string { return o.PID1 })
	names := map[string]string{"main": "main shell", "worker": "worker", "daemon": "setsid daemon"}
	for i, n := range Processes {
		row(names[n], func(o Outcome) string { return o.Fate(o.Processes[i]) })
	}
	row("container exit", func(o Outcome) string {
		switch {
		case o.Killed():
			return "137 (SIGKILL)"
		case o.Stop.ExitCode == -1:
			return "not seen"
		case o.Stop.Reason != "" && o.Stop.Reason != "Completed" && o.Stop.Reason != "Error":
			return fmt.Sprintf("%d (%s)", o.Stop.ExitCode, o.Stop.Reason)
		}
		return fmt.Sprint(o.Stop.ExitCode)
	})
	row("pod gone after delete", func(o Outcome) string {
		return fmt.Sprintf("%.1f s of %.0f s grace", o.Stop.Gone.Seconds(), o.Grace.Seconds())
	})
	return tw.Flush()
}
