package extract

import (
	"database/sql"
	"testing"

	"github.com/mallet-etl/mallet/schema"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		col  schema.Column
		in   []byte
		want []byte // nil: NULL
	}{
		{"NULL", schema.Column{Kind: schema.String}, nil, nil},
		{"UTF-8 text kept", schema.Column{Kind: schema.String}, []byte("日本 é"), []byte("日本 é")},
		{"each invalid byte replaced", schema.Column{Kind: schema.String}, []byte("a\xff\xfeb\xe6\x97"), []byte("a\uFFFD\uFFFDb\uFFFD\uFFFD")},
		{"binary kept as bytes", schema.Column{Kind: schema.Binary}, []byte("\xff\x00"), []byte("\xff\x00")},
		{"bit as decimal", schema.Column{Kind: schema.Int64, MySQL: "BIT"}, []byte{0x03, 0xff}, []byte("1023")},
		{"zero date", schema.Column{Kind: schema.Date}, []byte("0000-00-00"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf []byte
			got := normalize(tt.col, sql.RawBytes(tt.in), &buf)
			if (got == nil) != (tt.want == nil) || string(got) != string(tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
