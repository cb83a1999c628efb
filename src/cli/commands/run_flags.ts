/**
 * The flags of `runner run`, apart from the command: the supervising thread of
 * a scoped poller reads them (config path, working directory, listen address)
 * without loading the poller, nor the table of every runner flag that
 * `run-single` takes (commands/run.ts).
 */
import { CONFIG_FLAG } from "../config_flags.ts";
import type { FlagSpec } from "../flags.ts";

export const RUN_FLAGS: FlagSpec[] = [
  CONFIG_FLAG,
  {
    name: "listen-address",
    type: "string",
    env: "LISTEN_ADDRESS",
    help: "Metrics / pprof server listening address",
  },
  {
    name: "service",
    aliases: ["n"],
    type: "string",
    help: "Use different names for different services",
  },
  {
    name: "working-directory",
    aliases: ["d"],
    type: "string",
    help: "Specify custom working directory",
  },
  {
    name: "user",
    aliases: ["u"],
    type: "string",
    help: "Use specific user to execute shell scripts",
  },
  { name: "syslog", type: "bool", env: "LOG_SYSLOG", help: "Log to system service logger" },
];
