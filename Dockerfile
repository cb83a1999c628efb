# Runner in a distroless image: `docker build -t runner .`
#
# The build stage compiles the single binary for the image's platform
# (buildx: --platform linux/amd64,linux/arm64); it needs access to
# dl.deno.land for the Deno runtime and to the npm registry. The final stage
# has no shell and no package manager, and runs as nonroot (uid 65532).
#
# Volumes: /etc/gitlab-runner holds config.toml (and .runner_system_id); mount
# /var/run/docker.sock for the docker executor. See docs/getting-started.md.

ARG DENO_VERSION=2.9.6

FROM --platform=$BUILDPLATFORM denoland/deno:debian-${DENO_VERSION} AS build
ARG TARGETARCH
# Revision and branch for `runner --version`: the context has no .git.
#   docker build --build-arg CI_COMMIT_SHA=$(git rev-parse HEAD) --build-arg CI_COMMIT_REF_NAME=main .
ARG CI_COMMIT_SHA=""
ARG CI_COMMIT_REF_NAME=""
ENV DENO_NO_UPDATE_CHECK=1
USER root
WORKDIR /src
COPY deno.json deno.lock ./
COPY src ./src
COPY scripts/compile.ts scripts/npm_pruning.ts ./scripts/
RUN case "${TARGETARCH:-amd64}" in \
      amd64) target=x86_64-unknown-linux-gnu ;; \
      arm64) target=aarch64-unknown-linux-gnu ;; \
      *) echo "Unsupported architecture \"${TARGETARCH}\": runner builds for amd64 and arm64" >&2; exit 1 ;; \
    esac \
 && deno task compile --target "$target" --out /out \
 && mkdir -p /rootfs/usr/bin /rootfs/etc/gitlab-runner \
 && cp "/out/runner-linux-${TARGETARCH:-amd64}" /rootfs/usr/bin/runner \
 && ln -s runner /rootfs/usr/bin/gitlab-runner \
 && chmod 0700 /rootfs/etc/gitlab-runner

FROM gcr.io/distroless/cc-debian12:nonroot
# A folder copy keeps the gitlab-runner -> runner symlink (the official image's name).
COPY --from=build /rootfs/usr/bin/ /usr/bin/
COPY --from=build --chown=nonroot:nonroot /rootfs/etc/gitlab-runner/ /etc/gitlab-runner/
# Every command finds the config at the official container path, not in ~/.gitlab-runner.
ENV CONFIG_FILE=/etc/gitlab-runner/config.toml
USER nonroot
WORKDIR /home/nonroot
VOLUME ["/etc/gitlab-runner"]
# Metrics and debug endpoints when listen_address (or LISTEN_ADDRESS) is :9252.
EXPOSE 9252
ENTRYPOINT ["/usr/bin/runner"]
CMD ["run", "--config", "/etc/gitlab-runner/config.toml", "--working-directory", "/home/nonroot"]
