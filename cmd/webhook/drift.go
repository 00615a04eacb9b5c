package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/graceful-dev/graceful/pkg/api/v1alpha1"
	"github.com/graceful-dev/graceful/pkg/contract"
	"github.com/graceful-dev/graceful/pkg/drift/scan"
	"github.com/graceful-dev/graceful/pkg/version"
)

// Exit codes of drift: 0 nothing found, exitDrift unprotected pods found,
// 1 the cluster could not be read, 2 bad flags.
const exitDrift = 3

// runDrift lists the pods the current precedence selects that are not
// wrapped by the webhook's version, like the drift controller's gauge.
func runDrift(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("graceful-webhook drift", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else in-cluster)")
	kubeContext := fs.String("context", "", "kubeconfig context (default: the current one)")
	var namespace string
	fs.StringVar(&namespace, "namespace", "", "namespace to scan (default: the context's)")
	fs.StringVar(&namespace, "n", "", "short for --namespace")
	var all bool
	fs.BoolVar(&all, "all-namespaces", false, "scan every namespace")
	fs.BoolVar(&all, "A", false, "short for --all-namespaces")
	output := fs.String("o", "table", "output: table or json")
	want := fs.String("webhook-version", version.Version, "the version pods should be wrapped by (the webhook's)")
	system := fs.String("system-namespaces", strings.Join(contract.SystemNamespaces(), ","), "comma-separated namespaces never injected (the webhook's systemNamespaces)")
	own := fs.String("own-namespace", "graceful-system", "the webhook's namespace (never injected)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: graceful-webhook drift [flags]\n"+
			"Lists the pods graceful's precedence selects that are not wrapped by --webhook-version.\n"+
			"Exit code: 0 none found, %d some found, 1 the cluster could not be read, 2 bad flags.\n", exitDrift)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "graceful-webhook drift: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *output != "table" && *output != "json" {
		fmt.Fprintf(stderr, "graceful-webhook drift: -o %q: want table or json\n", *output)
		return 2
	}
	if all && namespace != "" {
		fmt.Fprintln(stderr, "graceful-webhook drift: --namespace and --all-namespaces exclude each other")
		return 2
	}
	if *want == "" {
		fmt.Fprintln(stderr, "graceful-webhook drift: --webhook-version is empty")
		return 2
	}

	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = *kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: *kubeContext})
	cfg, err := cc.ClientConfig()
	if err != nil {
		fmt.Fprintf(stderr, "graceful-webhook drift: kubeconfig: %v\n", err)
		return 1
	}
	if !all && namespace == "" {
		if namespace, _, err = cc.Namespace(); err != nil {
			fmt.Fprintf(stderr, "graceful-webhook drift: kubeconfig namespace: %v\n", err)
			return 1
		}
	}
	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		fmt.Fprintf(stderr, "graceful-webhook drift: %v\n", err)
		return 1
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		fmt.Fprintf(stderr, "graceful-webhook drift: %v\n", err)
		return 1
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintf(stderr, "graceful-webhook drift: client: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := scan.Scan(ctx, c, scan.Options{Namespace: namespace, Version: *want,
		ExcludedNamespaces: append(contract.SplitList(*system), *own)})
	if err != nil {
		fmt.Fprintf(stderr, "graceful-webhook drift: %v\n", err)
		return 1
	}
	write := scan.WriteTable
	if *output == "json" {
		write = scan.WriteJSON
	}
	if err := write(stdout, res); err != nil {
		fmt.Fprintf(stderr, "graceful-webhook drift: writing: %v\n", err)
		return 1
	}
	if len(res.Unprotected) > 0 {
		return exitDrift
	}
	return 0
}
