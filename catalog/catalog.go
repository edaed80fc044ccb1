// Package catalog keeps what reads a job's published output in step with
// it: the job's table in the AWS Glue Data Catalog, which Athena queries,
// and the QuickSight SPICE datasets built over it.
//
// Both are meant to run after a run has committed. They never touch the
// data: a failure leaves what was published in place, and the next run (or
// `mallet athena sync`) does the same work again, since each call compares
// with what AWS holds or starts a new ingestion.
//
// The clients are the aws-sdk-go-v2 glue and quicksight clients with the
// SDK's default chain for credentials, region and endpoint, so
// AWS_ENDPOINT_URL_GLUE and AWS_ENDPOINT_URL_QUICKSIGHT point them at
// another server exactly as AWS_ENDPOINT_URL_S3 does for S3 (the fakes in
// catalog/gluetest and catalog/quicksighttest use that). Requests are
// retried by the SDK's standard retryer (5 attempts, backoff up to 20 s) on
// throttling, 5xx and broken connections.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/smithy-go"

	"github.com/mallet-etl/mallet/load"
)

// maxBackoff bounds the SDK's wait between two attempts of a request;
// tests shorten it.
var maxBackoff = 20 * time.Second

// loadAWS loads the SDK config: the default chain, region overriding the
// chain's when set, the standard retryer and mallet's AWS_CA_BUNDLE
// fallback. It does not contact AWS.
func loadAWS(ctx context.Context, region string) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 5
				o.MaxBackoff = maxBackoff
			})
		}),
	}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	caOpt, err := load.CABundleOption()
	if err != nil {
		return aws.Config{}, err
	}
	if caOpt != nil {
		opts = append(opts, caOpt)
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load aws config: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("no AWS region: set AWS_REGION (ECS sets it for a task) or s3.region")
	}
	return cfg, nil
}

// apiCode returns the error code of an AWS API error in err's chain, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
