// Command graceful-webhook is graceful's mutating admission webhook, and its
// offline twin:
//
//	graceful-webhook serve [flags]          run the admission webhook
//	graceful-webhook inject -f FILE [flags] rewrite manifests to stdout
//	graceful-webhook drift [flags]          list the pods not wrapped as they should be
//	graceful-webhook version                print the version
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/graceful-dev/graceful/pkg/version"
)

const usage = `usage:
  graceful-webhook serve [flags]           run the mutating admission webhook
  graceful-webhook inject -f FILE [flags]  rewrite pods and pod templates in a YAML stream (FILE or - for stdin) to stdout
  graceful-webhook drift [flags]           list the pods graceful selects that this version did not wrap (exit 3 when any)
  graceful-webhook version                 print the version
Run a subcommand with -h for its flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "inject":
		return runInject(args[1:], stdin, stdout, stderr)
	case "serve":
		return runServe(args[1:], stderr)
	case "drift":
		return runDrift(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, version.Version)
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "graceful-webhook: unknown subcommand %q\n%s", args[0], usage)
		return 2
	}
}
