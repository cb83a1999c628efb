/** The GitLab client's clock is the runner-wide one (time/clock.ts). */
export { type Clock, systemClock } from "../time/clock.ts";
