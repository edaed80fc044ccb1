package jobs_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/server"
	gms "github.com/dolthub/go-mysql-server/sql"
	"github.com/sirupsen/logrus"

	"github.com/mallet-etl/mallet/config"
	"github.com/mallet-etl/mallet/jobs"
)

// TestTLSHandshake runs a job against a loopback MySQL-compatible server
// (go-mysql-server) that speaks TLS with a certificate from a throwaway CA
// and refuses plain-text clients. The local MariaDB has TLS off, so this is
// where the servers[].tls option is seen to succeed: a CA bundle that signed
// the certificate verifies it, one that did not is refused naming the
// tenant, skip-verify encrypts without verifying, and no tls is refused by
// the server. Since the server takes no plain-text client, rows coming back
// prove the connection was TLS.
func TestTLSHandshake(t *testing.T) {
	t.Parallel()
	signer := newCA(t, "mallet test CA")
	stranger := newCA(t, "some other CA")
	addr := startTLSServer(t, signer.issue(t, net.IPv4(127, 0, 0, 1)))

	tests := []struct {
		name string
		ca   *ca      // written to ca.pem next to the config, when tls is ca.pem
		tls  string   // the server's tls option
		want []string // in the tenant's error; none means the rows come back
		cert bool     // the error is a certificate verification failure
	}{
		{name: "CA bundle that signed the certificate", ca: signer, tls: "ca.pem"},
		{name: "skip-verify", tls: "skip-verify"},
		{name: "CA bundle of another CA", ca: stranger, tls: "ca.pem",
			want: []string{"tenant db1/shop: connect: tls: failed to verify certificate: x509: certificate signed by unknown authority"}, cert: true},
		{name: "no tls", tls: "",
			want: []string{"tenant db1/shop: connect: Error 1105", "server does not allow insecure connections, client must use SSL/TLS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			dir := t.TempDir()
			if tt.ca != nil {
				if err := os.WriteFile(filepath.Join(dir, "ca.pem"), tt.ca.pem, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg := writeTLSConfig(t, dir, addr, tt.tls)
			res, err := jobs.Run(ctx, cfg, "j", jobs.Options{Date: runDate})
			if ctx.Err() != nil {
				t.Fatalf("the run did not end within the test's bound: %v", err)
			}
			if len(res.Tenants) != 1 {
				t.Fatalf("got %d tenants, want 1 (run error: %v)", len(res.Tenants), err)
			}
			tr := res.Tenants[0]

			if tt.want == nil {
				if err != nil {
					t.Fatalf("got %v, want the run to succeed", err)
				}
				_, rows := readOutput(t, res, func(key string) []byte {
					data, err := os.ReadFile(filepath.Join(cfg.Jobs["j"].Output.To, key))
					if err != nil {
						t.Fatal(err)
					}
					return data
				})
				var got []string
				for _, r := range rows {
					got = append(got, rowText(r))
				}
				want := []string{`"db1","shop","1","apple"`, `"db1","shop","2","pear"`, `"db1","shop","3","plum"`}
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("got rows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				return
			}
			if err == nil || tr.Err == nil {
				t.Fatalf("got run error %v, tenant error %v; want the tenant to fail", err, tr.Err)
			}
			for _, w := range tt.want {
				if !strings.Contains(tr.Err.Error(), w) {
					t.Errorf("got tenant error %q, want it to contain %q", tr.Err, w)
				}
			}
			var uae x509.UnknownAuthorityError
			if got := errors.As(tr.Err, &uae); got != tt.cert {
				t.Errorf("errors.As(x509.UnknownAuthorityError) = %v, want %v (error %v)", got, tt.cert, tr.Err)
			}
			if tr.Attempts != 1 {
				t.Errorf("got %d attempts, want 1: retrying cannot fix %v", tr.Attempts, tr.Err)
			}
		})
	}
}

// writeTLSConfig writes config.yaml into dir: one server at addr with the
// given tls option, tenant database shop, and job j reading its items
// table to a CSV folder.
func writeTLSConfig(t *testing.T, dir, addr, tlsOpt string) *config.Config {
	t.Helper()
	q := filepath.Join(dir, "items.sql")
	if err := os.WriteFile(q, []byte("SELECT id, name FROM items ORDER BY id"), 0o600); err != nil {
		t.Fatal(err)
	}
	server := fmt.Sprintf("      - name: db1\n        dsn: %q\n", "root@tcp("+addr+")/?timeout=5s")
	if tlsOpt != "" {
		server += fmt.Sprintf("        tls: %q\n", tlsOpt)
	}
	text := fmt.Sprintf(`sources:
  shop:
    servers:
%s    tenants:
      list: [shop]
jobs:
  j:
    source: shop
    query: %s
    output: {to: %q, format: csv}
`, server, q, filepath.Join(dir, "out"))
	return writeConfigIn(t, dir, text)
}

// ca is a throwaway certificate authority.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &ca{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a server certificate for ip signed by the CA.
func (c *ca) issue(t *testing.T, ip net.IP) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: ip.String()},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{ip},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// startTLSServer starts go-mysql-server on 127.0.0.1 with cert, refusing
// clients that do not switch to TLS, and database shop holding table items.
// It returns the server's address; the server stops when the test ends.
func startTLSServer(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	logrus.SetOutput(io.Discard) // the engine logs every connection
	pro := memory.NewDBProvider()
	engine := sqle.NewDefault(pro)
	ctx := gms.NewContext(t.Context(), gms.WithSession(memory.NewSession(gms.NewBaseSession(), pro)))
	for _, q := range []string{
		"CREATE DATABASE shop",
		"CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20))",
		"INSERT INTO shop.items VALUES (1, 'apple'), (2, 'pear'), (3, 'plum')",
	} {
		_, iter, _, err := engine.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if _, err := gms.RowIterToRows(ctx, iter); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.NewServer(server.Config{
		Protocol: "tcp", Listener: l, Version: "8.0.40-tls-test",
		TLSConfig:              &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		RequireSecureTransport: true,
	}, engine, gms.NewContext, memory.NewSessionBuilder(pro), nil)
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Start() }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("stop server: %v", err)
		}
		if err := <-done; err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("server: %v", err)
		}
	})
	return l.Addr().String()
}
