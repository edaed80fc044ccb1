// Package schema describes the columns of a dataset as mallet writes them: the
// logical kind of each column, how it maps from a MySQL result column and how
// Athena reads it. It is the one place where that mapping lives; the encoders
// in package load and the Athena DDL both read it from here.
package schema

import (
	"fmt"
	"strings"
)

// Kind is the logical type of a column in mallet's output.
type Kind uint8

// The kinds mallet writes. Values travel between packages as MySQL's text
// representation ([]byte, nil for NULL); a Kind says how to encode that text.
const (
	Int32     Kind = iota + 1 // TINYINT, SMALLINT, MEDIUMINT, INT, unsigned up to MEDIUMINT, YEAR
	Int64                     // BIGINT, INT UNSIGNED, BIT
	Uint64                    // BIGINT UNSIGNED: written as decimal(20,0), no unsigned annotation
	Float                     // FLOAT
	Double                    // DOUBLE
	Decimal                   // DECIMAL(p,s) with p <= 38
	Date                      // DATE; zero dates are NULL
	Timestamp                 // DATETIME and TIMESTAMP, millisecond precision; zero dates are NULL
	String                    // CHAR, VARCHAR, TEXT, JSON, ENUM, SET, TIME, DECIMAL wider than 38
	Binary                    // BINARY, VARBINARY, BLOB, GEOMETRY
)

// MaxDecimalPrecision is the widest DECIMAL written as a decimal; wider ones
// are written as strings because Athena's decimal stops at 38 digits.
const MaxDecimalPrecision = 38

var kindNames = [...]string{
	Int32: "int32", Int64: "int64", Uint64: "uint64", Float: "float", Double: "double",
	Decimal: "decimal", Date: "date", Timestamp: "timestamp", String: "string", Binary: "binary",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// MarshalText writes the kind's name.
func (k Kind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's name.
func (k *Kind) UnmarshalText(b []byte) error {
	v, err := ParseKind(string(b))
	*k = v
	return err
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, error) {
	for k, name := range kindNames {
		if name != "" && name == s {
			return Kind(k), nil
		}
	}
	return 0, fmt.Errorf("schema: unknown kind %q", s)
}

// Column is one output column.
type Column struct {
	Name      string `json:"name"`
	Kind      Kind   `json:"kind"`
	Precision int    `json:"precision,omitempty"` // Decimal only
	Scale     int    `json:"scale,omitempty"`     // Decimal only
	// MySQL is the database type the column came from ("DECIMAL",
	// "UNSIGNED BIGINT", ...), empty for tenant columns.
	MySQL string `json:"mysql,omitempty"`
}

// Schema is the ordered list of a dataset's columns.
type Schema []Column

// Athena returns the Athena (Hive DDL) type that reads the column as the
// Parquet encoder writes it.
func (c Column) Athena() string {
	switch c.Kind {
	case Int32:
		return "int"
	case Int64:
		return "bigint"
	case Uint64:
		return "decimal(20,0)"
	case Float:
		return "float"
	case Double:
		return "double"
	case Decimal:
		return fmt.Sprintf("decimal(%d,%d)", c.Precision, c.Scale)
	case Date:
		return "date"
	case Timestamp:
		return "timestamp"
	case Binary:
		return "binary"
	default:
		return "string"
	}
}

// Equal reports whether two columns are encoded the same way. The MySQL type
// name is informative only: INT and MEDIUMINT both encode as Int32.
func (c Column) Equal(o Column) bool {
	return c.Name == o.Name && c.Kind == o.Kind && c.Precision == o.Precision && c.Scale == o.Scale
}

// Equal reports whether two schemas have the same columns in the same order.
func (s Schema) Equal(o Schema) bool {
	if len(s) != len(o) {
		return false
	}
	for i := range s {
		if !s[i].Equal(o[i]) {
			return false
		}
	}
	return true
}

// Index returns the position of the named column, or -1.
func (s Schema) Index(name string) int {
	for i, c := range s {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// Names returns the column names in order.
func (s Schema) Names() []string {
	names := make([]string, len(s))
	for i, c := range s {
		names[i] = c.Name
	}
	return names
}

// Diff describes how o differs from s, one line per difference, or "" when
// they are equal.
func (s Schema) Diff(o Schema) string {
	var b strings.Builder
	for i, c := range s {
		j := o.Index(c.Name)
		switch {
		case j < 0:
			fmt.Fprintf(&b, "column %q (%s) removed; ", c.Name, c.Athena())
		case !c.Equal(o[j]):
			fmt.Fprintf(&b, "column %q changed from %s to %s; ", c.Name, c.Athena(), o[j].Athena())
		case i != j:
			fmt.Fprintf(&b, "column %q moved from position %d to %d; ", c.Name, i+1, j+1)
		}
	}
	for _, c := range o {
		if s.Index(c.Name) < 0 {
			fmt.Fprintf(&b, "column %q (%s) added; ", c.Name, c.Athena())
		}
	}
	return strings.TrimSuffix(b.String(), "; ")
}

// FromMySQL maps a result column, described by the driver's database type
// name and decimal size, to an output column.
func FromMySQL(name, dbType string, precision, scale int64) Column {
	c := Column{Name: name, MySQL: dbType}
	switch dbType {
	case "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "UNSIGNED TINYINT", "UNSIGNED SMALLINT",
		"UNSIGNED MEDIUMINT", "YEAR":
		c.Kind = Int32
	case "BIGINT", "UNSIGNED INT", "BIT":
		c.Kind = Int64
	case "UNSIGNED BIGINT":
		c.Kind = Uint64
	case "FLOAT":
		c.Kind = Float
	case "DOUBLE":
		c.Kind = Double
	case "DECIMAL":
		if precision > 0 && precision <= MaxDecimalPrecision {
			c.Kind, c.Precision, c.Scale = Decimal, int(precision), int(scale)
		} else {
			c.Kind = String
		}
	case "DATE":
		c.Kind = Date
	case "DATETIME", "TIMESTAMP":
		c.Kind = Timestamp
	case "BINARY", "VARBINARY", "TINYBLOB", "BLOB", "MEDIUMBLOB", "LONGBLOB", "GEOMETRY":
		c.Kind = Binary
	default: // CHAR, VARCHAR, *TEXT, JSON, ENUM, SET, TIME, NULL, VECTOR
		c.Kind = String
	}
	return c
}

// Tenant returns the string column used for a tenant column or a registry
// attribute.
func Tenant(name string) Column { return Column{Name: name, Kind: String} }
