/** The docker executor's public surface. */
export {
  DEFAULT_BUILDS_DIR,
  DEFAULT_CACHE_DIR,
  DEFAULT_HELPER_IMAGE,
  DockerExecutor,
  type DockerExecutorOptions,
  HELPER_STAGES,
  KILLED_EXIT_CODE,
} from "./docker_executor.ts";
export { connectDocker, type ReadTextFile } from "./docker_connection.ts";
export {
  DEFAULT_DOCKER_SOCKET,
  type DockerEndpoint,
  dockerEndpoint,
  type DockerEndpointConfig,
} from "../../config/docker_endpoint.ts";
export { OwnerLease } from "./owner_lease.ts";
export {
  type CacheVolumeFilter,
  clearCacheVolumes,
  sweepOrphans,
  type SweepResult,
} from "./docker_resources.ts";
export {
  type ContainerFileAccess,
  ContainerFiles,
  type ContainerPathStat,
} from "./container_files.ts";
export { type CredentialHelper, ProcessCredentialHelper } from "./credential_helper.ts";
