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
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
        -ldflags "-s -w -X main.version=$VERSION" -o /out/node ./node \
 && CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags "-s -w" \
        -o /out/healthcheck ./deploy/healthcheck \
 && mkdir -p /out/apps && (cp apps/*.siddhi /out/apps/ 2>/dev/null || true)

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/node /node
COPY --from=build /out/healthcheck /healthcheck
COPY --from=build --chown=nonroot:nonroot /out/apps /apps
USER nonroot:nonroot
ENV NODE_APPS_DIR=/apps \
    NODE_REST_LISTEN=0.0.0.0:9090 \
    NODE_SYNC_LISTEN=0.0.0.0:9893 \
    NODE_TCP_LISTEN=0.0.0.0:9894
EXPOSE 9090 9893 9894
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["/healthcheck", "http://127.0.0.1:9090/health"]
ENTRYPOINT ["/node", "run"]
