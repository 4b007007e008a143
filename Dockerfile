# The streamha node image: a static binary on a distroless base (CA certificates, tzdata, a
# nonroot user, no shell). Build with `make image` (linux/arm64 for the Fargate task definition).
# Apps: put *.siddhi files in apps/ before building, or build FROM this image and COPY to /apps.

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS=linux
ARG TARGETARCH=arm64
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The RDS certificate authorities: the cluster database URL says sslmode=verify-full.
ADD https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /out/rds-global-bundle.pem
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
        -ldflags "-s -w -X main.version=$VERSION" -o /out/node ./node \
 && CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags "-s -w" \
        -o /out/healthcheck ./deploy/healthcheck \
 && mkdir -p /out/apps && (cp apps/*.siddhi /out/apps/ 2>/dev/null || true)

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/node /node
COPY --from=build /out/healthcheck /healthcheck
COPY --from=build --chmod=0444 /out/rds-global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem
COPY --from=build --chown=nonroot:nonroot /out/apps /apps
USER nonroot:nonroot
ENV PGSSLROOTCERT=/etc/ssl/certs/rds-global-bundle.pem \
    NODE_APPS_DIR=/apps \
    NODE_REST_LISTEN=0.0.0.0:9090 \
    NODE_ADMIN_LISTEN=0.0.0.0:9091 \
    NODE_SYNC_LISTEN=0.0.0.0:9893 \
    NODE_TCP_LISTEN=0.0.0.0:9894
EXPOSE 9090 9091 9893 9894
HEALTHCHECK --interval=10s --timeout=5s --start-period=300s --retries=6 CMD ["/healthcheck", "http://127.0.0.1:9090/ha/ready"]
ENTRYPOINT ["/node", "run"]
