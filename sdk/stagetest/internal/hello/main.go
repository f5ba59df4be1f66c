package main

import (
	"context"

	"github.com/rung-runtime/rung/sdk"
)

type hello struct{ sdk.Base }

func (hello) Describe(context.Context) (sdk.Description, error) {
	return sdk.Description{Name: "hello", Version: "0.1.0", Stage: "hello"}, nil
}

func (hello) Prepare(ctx context.Context, c *sdk.Container) (*sdk.Plan, error) {
	sdk.Logger().Info("preparing", "container", c.ID, "hostname", c.Spec.Hostname)
	return &sdk.Plan{}, nil
}

func main() { sdk.Serve(hello{}) }
