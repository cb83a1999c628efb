/** The ssh and docker+ssh executors' public surface. */
export { KILLED_EXIT_CODE, SshExecutor, type SshExecutorOptions } from "./ssh_executor.ts";
export {
  DOCKER_SSH_BUILDS_DIR,
  DOCKER_SSH_CACHE_DIR,
  DockerSshExecutor,
  type DockerSshExecutorOptions,
} from "./docker_ssh_executor.ts";
export {
  describeTarget,
  SshConnection,
  type SshConnectOptions,
  type SshTarget,
  sshTarget,
} from "./ssh_connection.ts";
export { RemoteWriter, SftpFiles } from "./sftp_files.ts";
export {
  describeRefusal,
  hostKeyFingerprint,
  type HostKeyVerdict,
  type KnownHostKey,
  KnownHosts,
  knownHostsName,
} from "./known_hosts.ts";
