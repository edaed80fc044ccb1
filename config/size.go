package config

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultFileSize is the output a union job's part holds at most, by
// default: the size Athena's guidance names as the least for a file.
const DefaultFileSize Size = 128 << 20

// Size is a number of bytes, written as an integer or with a unit: KB, MB,
// GB (powers of 1000) or KiB, MiB, GiB (powers of 1024), e.g. 128MiB.
type Size int64

var sizeUnits = []struct {
	suffix string
	n      int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
}

// ParseSize parses "134217728", "128MiB" or "100 MB".
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	mul := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mul = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.n
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mul {
		return 0, fmt.Errorf("size %q: want bytes such as 134217728 or 128MiB", s)
	}
	return Size(n * mul), nil
}

// UnmarshalYAML accepts an integer or a number with a unit.
func (z *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a size such as 128MiB", n.Line)
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*z = v
	return nil
}

// String writes the size in the largest binary unit that divides it.
func (z Size) String() string {
	for i := 2; i >= 0; i-- {
		u := sizeUnits[i]
		if z != 0 && int64(z)%u.n == 0 {
			return strconv.FormatInt(int64(z)/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(z), 10)
}

// MarshalYAML writes the size as String does, which parses back the same.
func (z Size) MarshalYAML() (any, error) { return z.String(), nil }
