/**
 * The four prom-client classes Runner uses. The package's main entry also
 * loads the push gateway, cluster aggregation and default collectors (about
 * 7 MB of resident memory in the poller); the class modules alone do not.
 * Types still come from the package's own declarations.
 */
import type * as Prom from "prom-client";
import RegistryClass from "prom-client/lib/registry.js";
import CounterClass from "prom-client/lib/counter.js";
import GaugeClass from "prom-client/lib/gauge.js";
import HistogramClass from "prom-client/lib/histogram.js";

export const Registry = RegistryClass as unknown as typeof Prom.Registry;
export type Registry = Prom.Registry;
export const Counter = CounterClass as unknown as typeof Prom.Counter;
export type Counter<T extends string = string> = Prom.Counter<T>;
export const Gauge = GaugeClass as unknown as typeof Prom.Gauge;
export type Gauge<T extends string = string> = Prom.Gauge<T>;
export const Histogram = HistogramClass as unknown as typeof Prom.Histogram;
export type Histogram<T extends string = string> = Prom.Histogram<T>;
