// Package layout has no code: its test holds keycycle's import rules, the table of which package
// may import which (see layout_test.go). The table is the layout's documentation; a new package
// starts by taking its place in it.
package layout
