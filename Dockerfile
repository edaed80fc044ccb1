# mallet's image: one static binary on an empty base with CA certificates
# (time zone data is embedded in the binary), running as an unprivileged
# user, every job on its schedule by default.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t mallet .
#   docker run --rm -p 9090:9090 -e CRM_DB1_DSN=... -e MALLET_OUTPUT=s3://bucket/crm mallet
#   docker run --rm -e CRM_DB1_DSN=... mallet run job mail_send_counts --shard 1/4
#
# The config and queries of this repository are baked in at /etc/mallet;
# mount another folder there (or set MALLET_CONFIG) to run other jobs.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# nodemo leaves the in-memory demo server out of the production binary.
RUN CGO_ENABLED=0 go build -tags nodemo -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION}" -o /out/mallet ./cmd/mallet \
 && /out/mallet version

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/mallet /usr/local/bin/mallet
COPY config.yaml /etc/mallet/config.yaml
COPY queries/ /etc/mallet/queries/
ENV PATH=/usr/local/bin MALLET_CONFIG=/etc/mallet/config.yaml
# No user database in scratch: a numeric, unprivileged uid and gid.
USER 65532:65532
# /healthz and /metrics in schedule mode.
EXPOSE 9090
ENTRYPOINT ["mallet"]
CMD ["schedule"]
