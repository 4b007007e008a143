# AWS SAM build targets and the node image. Included by the top-level Makefile
# (`-include deploy/sam.mk`); also usable alone: make -f deploy/sam.mk build-RestarterFunction ARTIFACTS_DIR=out
#
# `sam build` runs `make build-<LogicalId>` in a copy of CodeUri (the repository root) with
# ARTIFACTS_DIR set and nothing else, so each target sets GOOS/GOARCH itself (arm64 to match the
# template's Architectures) and writes the executable `bootstrap` that provided.al2023 runs.

GO              ?= go
LAMBDA_GOFLAGS  ?= -trimpath -tags lambda.norpc -ldflags "-s -w"
LAMBDA_ENV      := CGO_ENABLED=0 GOOS=linux GOARCH=arm64
# The RDS certificate authorities: the database URL says sslmode=verify-full, and pgx finds the
# bundle through PGSSLROOTCERT (the template sets it to /var/task/rds-global-bundle.pem). Empty
# RDS_CA_URL skips it (the build tests, which run offline).
RDS_CA_URL      ?= https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
RDS_CA_FETCH     = $(if $(RDS_CA_URL),curl -fsSL --retry 3 -o $(ARTIFACTS_DIR)/rds-global-bundle.pem $(RDS_CA_URL),@true)
IMAGE           ?= streamha-node:latest
IMAGE_PLATFORM  ?= linux/arm64
DOCKER          ?= docker

.PHONY: build-HealthMirrorFunction build-AlarmHandlerFunction build-RestarterFunction lambdas image

build-HealthMirrorFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./lambdas/cmd/healthmirror
	$(RDS_CA_FETCH)

build-AlarmHandlerFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./lambdas/cmd/alarmhandler
	$(RDS_CA_FETCH)

build-RestarterFunction:
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./lambdas/cmd/restarter
	$(RDS_CA_FETCH)

# All three into .aws-sam-local/<LogicalId>/bootstrap, without SAM (a quick compile check).
lambdas:
	@for f in HealthMirrorFunction AlarmHandlerFunction RestarterFunction; do \
		$(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) build-$$f ARTIFACTS_DIR=$(CURDIR)/.aws-sam-local/$$f || exit 1; done

# The node image (linux/arm64, matching the task definition's RuntimePlatform). Put your apps in
# apps/ first, or build FROM this image and COPY them to /apps.
image:
	$(DOCKER) build --platform $(IMAGE_PLATFORM) -t $(IMAGE) .
