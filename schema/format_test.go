package schema_test

import (
	"fmt"
	"testing"

	"github.com/mallet-etl/mallet/schema"
)

func TestParseFormat(t *testing.T) {
	for _, f := range schema.Formats() {
		got, err := schema.ParseFormat(string(f))
		if err != nil || got != f {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q, nil", f, got, err, f)
		}
	}
	for _, s := range []string{"", "orc", "CSV", "parquet ", "csv.bz2"} {
		got, err := schema.ParseFormat(s)
		if err == nil {
			t.Errorf("ParseFormat(%q) = %q, nil; want an error", s, got)
			continue
		}
		if want := fmt.Sprintf("unknown format %q (want parquet, csv or csv.gz)", s); err.Error() != want {
			t.Errorf("ParseFormat(%q) error = %q; want %q", s, err, want)
		}
	}
}

func TestFormatsIsACopy(t *testing.T) {
	fs := schema.Formats()
	fs[0] = "orc"
	if got := schema.Formats()[0]; got == "orc" {
		t.Errorf("Formats()[0] = %q after changing a returned slice; want the list unchanged", got)
	}
}
