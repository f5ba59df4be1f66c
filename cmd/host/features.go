package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/moby/sys/capability"

	"github.com/urfave/cli/v2"

	"github.com/rung-runtime/rung/internal/launcher"
	"github.com/rung-runtime/rung/internal/version"
)

// hostFeatures is the host's own part of the runtime-spec features document;
// each stage plugin adds its part from Describe.
func hostFeatures() map[string]any {
	return map[string]any{
		"ociVersionMin": "1.0.0",
		"ociVersionMax": version.Spec,
		"hooks":         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		"mountOptions": []string{"async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec",
			"iversion", "lazytime", "loud", "mand", "noatime", "nodev", "nodiratime", "noexec", "noiversion",
			"nolazytime", "nomand", "norelatime", "nostrictatime", "nosuid", "nosymfollow", "private", "rbind",
			"relatime", "remount", "ro", "rprivate", "rro", "rshared", "rslave", "runbindable", "rw", "shared",
			"silent", "slave", "strictatime", "suid", "symfollow", "sync", "unbindable"},
		"linux": map[string]any{
			"capabilities": knownCapabilities(),
			// idmap mounts are not implemented yet: containerd's CRI reads this
			// before it turns on user namespaces with idmapped volumes.
			"mountExtensions": map[string]any{"idmap": map[string]any{"enabled": false}},
		},
		"annotations": map[string]any{
			"org.opencontainers.runtime-spec.features.v1.runtime": "rung",
			"io.github.rung-runtime.version":                      version.Version,
		},
	}
}

// mergeFeatures folds src into dst, recursing into objects.
func mergeFeatures(dst, src map[string]any) {
	for k, v := range src {
		if sub, ok := v.(map[string]any); ok {
			if d, ok := dst[k].(map[string]any); ok {
				mergeFeatures(d, sub)
				continue
			}
		}
		dst[k] = v
	}
}

func featuresCommand() *cli.Command {
	return &cli.Command{
		Name: "features", Usage: "print the runtime-spec features document",
		Action: func(c *cli.Context) error {
			log := logFrom(c)
			// The operator's config, pins included: containerd calls features
			// too, and it must not run a binary the operator did not pin.
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			set, err := launcher.LaunchAll(context.Background(), log, cfg.Specs(), nil)
			if err != nil {
				return err
			}
			defer set.Close()
			doc := hostFeatures()
			for _, p := range set {
				if len(p.Desc.GetFeaturesJson()) == 0 {
					continue
				}
				var part map[string]any
				if err := json.Unmarshal(p.Desc.GetFeaturesJson(), &part); err != nil {
					return fmt.Errorf("%s: features: %w", p.Label(), err)
				}
				mergeFeatures(doc, part)
			}
			return printJSON(doc)
		},
	}
}

// knownCapabilities lists the capabilities this kernel has, by spec name.
func knownCapabilities() []string {
	caps, err := capability.ListSupported()
	if err != nil {
		caps = capability.ListKnown()
	}
	names := make([]string, 0, len(caps))
	for _, c := range caps {
		names = append(names, "CAP_"+strings.ToUpper(c.String()))
	}
	return names
}
