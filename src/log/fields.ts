/** Structured log keys; use these so `job_id` never becomes `jobId`. */
export const F = {
  JOB_ID: "job_id",
  RUNNER: "runner",
  RUNNER_NAME: "runner_name",
  EXECUTOR: "executor",
  FAILURE_REASON: "failure_reason",
  STAGE: "stage",
  STATUS: "status",
  DURATION_S: "duration_s",
  ERROR: "error",
  URL: "url",
  FILE: "file",
  KEY: "key",
  ENDPOINT: "endpoint",
  SYSTEM_ID: "system_id",
  CORRELATION_ID: "correlation_id",
  PID: "pid",
  // Added by log/, metrics/ and service/:
  /** The official runner logs the job's project URL under this key. */
  REPO_URL: "repo_url",
  /** A job's numeric id in the official runner's "Checking for jobs... received" line. */
  JOB: "job",
  STATE: "state",
  METHOD: "method",
  /** host:port a server listens on (metrics, session server). */
  ADDRESS: "address",
  /** Service name given with `--service`. */
  SERVICE: "service",
  COMMAND: "command",
  LEVEL: "level",
  FORMAT: "format",
  /** Docker objects removed, comma-separated names (the sweep after a dead executor process). */
  CONTAINERS: "containers",
  NETWORKS: "networks",
  VOLUMES: "volumes",
  /** A thread of the runner process: "supervisor" or "poller" (cli/startup_garbage.ts). */
  THREAD: "thread",
  /** A V8 heap's committed size (Deno.memoryUsage().heapTotal), before and after a collection. */
  HEAP_BEFORE_BYTES: "heap_before_bytes",
  HEAP_BYTES: "heap_bytes",
  /** A job's image or service image, and its executor_opts.docker.platform (FF_LOG_IMAGES_CONFIGURED_FOR_JOB). */
  IMAGE_NAME: "image_name",
  IMAGE_PLATFORM: "image_platform",
} as const;
