/**
 * The engine's Micrometer meters, one table of names for every host: the server's {@code /metrics} and the Spring
 * Boot starter bind the same {@link dev.panamax.metrics.EngineMeters} to their registry. Contract: Micrometer is an
 * optional dependency of the library (Maven {@code optional}, module {@code requires static}); nothing outside this
 * package refers to it, so a service without Micrometer loads and runs everything else, and only constructing
 * {@code EngineMeters} needs {@code micrometer-core} on the class path. Gauges read {@link dev.panamax.Engine#stats()}
 * when scraped; per-request meters are counted when the host reports a finished request ({@link
 * dev.panamax.metrics.EngineMeters#finished}), counters only, safe from the engine's thread.
 */
package dev.panamax.metrics;
