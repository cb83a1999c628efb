/** config.toml texts shared by the tests of this folder. */

/**
 * Modeled on a file written by an official runner after two registrations and
 * some hand edits: docker and shell runners, S3 cache, kubernetes leftovers.
 */
export const OFFICIAL_CONFIG_TOML = `concurrent = 4
check_interval = 0
shutdown_timeout = 0
log_level = "warning"

[session_server]
  session_timeout = 1800
  listen_address = "[::]:8093"
  advertise_address = "runner.example.com:8093"

[[runners]]
  name = "docker-runner-01"
  url = "https://gitlab.example.com"
  id = 4711
  token = "glrt-t1_AbCdEfGhIjKlMnOpQrSt"
  token_obtained_at = 2024-05-13T10:20:30Z
  token_expires_at = 0001-01-01T00:00:00Z
  executor = "docker"
  limit = 2
  output_limit = 8192
  environment = ["DOCKER_DRIVER=overlay2", "GIT_DEPTH=10"]
  [runners.custom_build_dir]
  [runners.cache]
    Type = "s3"
    Shared = true
    MaxUploadedArchiveSize = 0
    [runners.cache.s3]
      ServerAddress = "minio.example.com:9000"
      AccessKey = "minio-access"
      SecretKey = "minio-secret-value"
      BucketName = "runner-cache"
      Insecure = true
    [runners.cache.gcs]
    [runners.cache.azure]
  [runners.docker]
    tls_verify = false
    image = "alpine:3.20"
    privileged = false
    disable_entrypoint_overwrite = false
    oom_kill_disable = false
    disable_cache = false
    volumes = ["/cache", "/var/run/docker.sock:/var/run/docker.sock"]
    shm_size = 268435456
    network_mtu = 0
    pull_policy = ["always", "if-not-present"]
    allowed_images = ["ruby:*", "python:*"]
    [runners.docker.tmpfs]
      "/var/lib/mysql" = "rw,noexec"
  [runners.feature_flags]
    FF_NETWORK_PER_BUILD = true
    FF_TIMESTAMPS = false
  [runners.kubernetes]
    namespace = "ci"
    [runners.kubernetes.node_selector]
      "kubernetes.io/os" = "linux"

[[runners]]
  name = "shell-runner"
  url = "https://gitlab.example.com/"
  id = 4712
  token = "glrt-ZyXwVuTsRqPoNmLkJiHg"
  token_obtained_at = 2024-06-01T08:00:00Z
  token_expires_at = 2025-06-01T08:00:00Z
  executor = "shell"
  shell = "bash"
  builds_dir = "/srv/builds"
  unhealthy_interval = "30m"
  [runners.cache]
    MaxUploadedArchiveSize = 0
`;
