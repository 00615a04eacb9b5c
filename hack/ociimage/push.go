package ociimage

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Push pushes img to ref (registry/repository:tag) and returns ref's
// repository by img's digest. plainHTTP allows a registry that speaks plain
// HTTP (go-containerregistry picks it for loopback registries on its own).
// Credentials come from the Docker config (authn.DefaultKeychain), as with
// crane.
func Push(ctx context.Context, ref string, img v1.Image, plainHTTP bool) (string, error) {
	return push(ref, img, plainHTTP, func(r name.Reference) error {
		return remote.Write(r, img, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	})
}

// PushIndex pushes idx and every image in it to ref, as Push does, and
// returns ref's repository by the index's digest.
func PushIndex(ctx context.Context, ref string, idx v1.ImageIndex, plainHTTP bool) (string, error) {
	return push(ref, idx, plainHTTP, func(r name.Reference) error {
		return remote.WriteIndex(r, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain))
	})
}

// push writes what has digest d with write, to ref, and returns ref's
// repository by that digest.
func push(ref string, d interface{ Digest() (v1.Hash, error) }, plainHTTP bool, write func(name.Reference) error) (string, error) {
	var opts []name.Option
	if plainHTTP {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(ref, opts...)
	if err != nil {
		return "", fmt.Errorf("image name %s: %w", ref, err)
	}
	h, err := d.Digest()
	if err != nil {
		return "", fmt.Errorf("digest of %s: %w", ref, err)
	}
	if err := write(r); err != nil {
		return "", fmt.Errorf("push %s: %w", r, err)
	}
	return r.Context().Digest(h.String()).String(), nil
}
