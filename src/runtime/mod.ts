/**
 * LOOM's runtime: the gate every tool call passes (`gate/`, one module per
 * step) and the per-agent sandbox its bridges run in (`sandbox/`: the parent
 * side that launches and supervises an agent's host process, and the child
 * side that runs in it).
 *
 * @module
 */

export * from "./gate/mod.ts";
