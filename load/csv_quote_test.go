package load

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestCSVNeedsQuotes compares the table-driven check with the plain rule on
// every position of a special byte in fields of 0 to 40 bytes, and on
// random fields of bytes around them (UTF-8 lead and continuation bytes
// included, which must not be taken for a special one).
func TestCSVNeedsQuotes(t *testing.T) {
	want := func(v []byte) bool {
		return len(v) == 0 || v[0] == ' ' || v[0] == '\t' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t' ||
			bytes.ContainsAny(v, ",\"\r\n")
	}
	check := func(v []byte) {
		t.Helper()
		if got := csvNeedsQuotes(v); got != want(v) {
			t.Fatalf("csvNeedsQuotes(%q) = %v, want %v", v, got, want(v))
		}
	}
	for n := 0; n <= 40; n++ {
		plain := bytes.Repeat([]byte("あ"), n)[:n] // bytes 0xe3 0x81 0x82 ...
		check(plain)
		for i := range n {
			for _, c := range []byte{',', '"', '\n', '\r', ' ', '\t', 0x2b, 0x2d, 0x21, 0x0b, 0x0c, 0x8d, 0xac, 0xa2, 0} {
				v := bytes.Clone(plain)
				v[i] = c
				check(v)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{'a', ',', '"', '\n', '\r', ' ', '\t', 0x00, 0x7f, 0x80, 0xff, 0xe3, 0x2c ^ 0x80, 0x22 ^ 0x80, 0x0a ^ 0x80}
	for range 20000 {
		v := make([]byte, r.IntN(33))
		for i := range v {
			if r.IntN(6) == 0 {
				v[i] = alphabet[r.IntN(len(alphabet))]
			} else {
				v[i] = 'a' + byte(r.IntN(26))
			}
		}
		check(v)
	}
}
