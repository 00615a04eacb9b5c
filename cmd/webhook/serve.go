package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr/funcr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/graceful-dev/graceful/pkg/webhook/options"
	"github.com/graceful-dev/graceful/pkg/webhook/server"
)

// runServe runs the admission webhook until SIGTERM or SIGINT. Logs are
// JSON lines on stderr.
func runServe(args []string, stderr io.Writer) int {
	cfg, err := options.Parse(args, os.Getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "graceful-webhook serve: bad configuration:\n%v\n", err)
		return 2
	}
	log := funcr.NewJSON(func(obj string) { fmt.Fprintln(stderr, obj) },
		funcr.Options{Verbosity: cfg.Verbosity, LogTimestamp: true, LogCaller: funcr.Error})
	restCfg, err := ctrl.GetConfig()
	if err != nil {
		fmt.Fprintf(stderr, "graceful-webhook serve: no cluster configuration: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv, err := server.New(ctx, restCfg, cfg, server.Options{}, log)
	if err != nil {
		fmt.Fprintf(stderr, "graceful-webhook serve: %v\n", err)
		return 1
	}
	if err := srv.Start(ctx); err != nil {
		log.Error(err, "stopped")
		return 1
	}
	return 0
}
