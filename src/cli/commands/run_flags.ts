/**
 * The flags of `runner run` and `runner run-single`, apart from the commands:
 * the supervising thread of a scoped poller reads them (config path, working
 * directory, listen address) without loading the poller.
 */
import { CONFIG_FLAG } from "../config_flags.ts";
import type { FlagSpec } from "../flags.ts";
import { RUNNER_FLAGS } from "../runner_flags.ts";

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

export const RUN_SINGLE_FLAGS: FlagSpec[] = [
  CONFIG_FLAG,
  { name: "runner", aliases: ["r"], type: "string", help: "Name of the runner in --config to use" },
  {
    name: "max-builds",
    type: "int",
    env: "MAX_BUILDS",
    help: "How many builds to process before exiting",
  },
  {
    name: "wait-timeout",
    type: "int",
    env: "WAIT_TIMEOUT",
    help: "How many seconds to wait for a job before exiting",
  },
  {
    name: "listen-address",
    type: "string",
    env: "LISTEN_ADDRESS",
    help: "Metrics server listening address",
  },
  ...RUNNER_FLAGS,
];
