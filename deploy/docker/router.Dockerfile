# aftershock router (the correlation service). Build from the repository root:
#   docker build -f deploy/docker/router.Dockerfile -t aftershock/router:dev .
# (`task images`). A static binary on distroless: no shell, no libc.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/router ./router

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/router /usr/local/bin/router
USER 65532:65532
EXPOSE 9470
ENTRYPOINT ["/usr/local/bin/router"]
