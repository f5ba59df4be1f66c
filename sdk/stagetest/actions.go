package stagetest

import (
	"github.com/rung-runtime/rung/proto/stagev1"
	"github.com/rung-runtime/rung/sdk/plancheck"
)

// The host's bounds on a plan; a plan past them fails the create. They are
// sdk/plancheck's, the one set of rules the host applies.
const (
	MaxActions       = plancheck.MaxActions
	MaxSeccompInsns  = plancheck.MaxSeccompInsns
	MaxAttrValue     = plancheck.MaxAttrValue
	MaxLandlockRules = plancheck.MaxLandlockRules
	MaxStateKeys     = plancheck.MaxStateKeys
	MaxStateBytes    = plancheck.MaxStateBytes
)

// CheckActions applies the host's checks to a Prepare answer's actions, so
// a plugin's unit tests can catch a plan the host would refuse. The host
// also refuses a second cgroup placement from another stage.
func CheckActions(actions []*stagev1.Action) error { return plancheck.Actions(actions) }
