// Package apparmor carries the AppArmor profile rung ships, rung-default,
// so that a later "load the default profile" step can write it to
// apparmor_parser without looking for files at run time.
package apparmor

import _ "embed"

// DefaultProfileName is the name the shipped profile declares.
const DefaultProfileName = "rung-default"

// DefaultProfile is the text of rung-default, apparmor_parser syntax.
//
//go:embed rung-default
var DefaultProfile string
