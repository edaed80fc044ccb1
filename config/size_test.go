package config

import "testing"

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		bad  bool
	}{
		{"134217728", 128 << 20, false},
		{"128MiB", 128 << 20, false},
		{"100 MB", 100e6, false},
		{"12KiB", 12 << 10, false},
		{"1GiB", 1 << 30, false},
		{"2GB", 2e9, false},
		{"512B", 512, false},
		{"-1", 0, true},
		{"1.5MiB", 0, true},
		{"lots", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if (err != nil) != tt.bad {
				t.Fatalf("ParseSize(%q) error %v, want error %v", tt.in, err, tt.bad)
			}
			if got != tt.want {
				t.Errorf("ParseSize(%q) = %d, want %d", tt.in, got, tt.want)
			}
			if !tt.bad {
				back, err := ParseSize(got.String())
				if err != nil || back != got {
					t.Errorf("%q: String %q parses back as %d, %v", tt.in, got.String(), back, err)
				}
			}
		})
	}
}
