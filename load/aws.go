package load

import "github.com/aws/aws-sdk-go-v2/config"

// CABundleOption returns the SDK load option that every mallet AWS client
// needs beside the S3 store's: when AWS_CA_BUNDLE names a file that is
// missing or holds no certificates, the SDK would refuse to load, and the
// option puts the system's CA file in its place. It is nil when
// AWS_CA_BUNDLE is unset or usable; an error means it is unusable and no
// system CA file was found.
func CABundleOption() (config.LoadOptionsFunc, error) { return caBundleFallback() }
