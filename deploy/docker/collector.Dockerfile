# aftershock collector (the node agent). Build from the repository root:
#   docker build -f deploy/docker/collector.Dockerfile -t aftershock/collector:dev .
# (`task images`). A static binary on distroless: no shell, no libc.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/collector ./collector

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/collector /usr/local/bin/collector
USER 65532:65532
EXPOSE 9471
ENTRYPOINT ["/usr/local/bin/collector"]
