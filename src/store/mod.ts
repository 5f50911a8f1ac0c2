/**
 * LOOM's persistent state: the `$LOOM_HOME` layout, the SQLite state database
 * (`loom.db`: grants, approvals, config versions, the agent registry, tool
 * pins and anomaly detection's learned tools; this folder is the only user of `node:sqlite`), and helpers for files
 * that must stay private to the user (mode 0600, owned by this uid, written
 * atomically).
 *
 * @example
 * ```ts
 * import { openStore, resolveHome } from "./mod.ts";
 * const root = await Deno.makeTempDir();
 * const home = resolveHome(new Map([["LOOM_HOME", root]]));
 * {
 *   await using store = await openStore(home);
 *   store.grants.put({ agent: "github", key: "gh-token", configDigest: "ab".repeat(32) });
 *   console.log(store.grants.list().map((g) => `${g.agent} ${g.key}`)); // ["github gh-token"]
 * }
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @module
 */

export * from "./home.ts";
export {
  type Grant,
  type GrantTable,
  LoomStore,
  openStore,
  type OpenStoreOptions,
  STORE_SCHEMA_VERSION,
} from "./db.ts";
export {
  type Approval,
  APPROVAL_ID,
  type ApprovalBinding,
  type ApprovalDecision,
  type ApprovalLimits,
  type ApprovalRequest,
  type ApprovalRequestResult,
  type ApprovalStatus,
  type ApprovalSweep,
  type ApprovalTable,
  approverIdentity,
  UNKNOWN_PRINCIPAL,
} from "./approvals.ts";
export {
  checkApprover,
  type ConfigApproval,
  type ConfigApprovalTable,
  generatorPrincipal,
  isPrincipal,
} from "./config_approvals.ts";
export {
  checkInstallTarget,
  checkQuarantineName,
  installFile,
  MAX_QUARANTINE_BYTES,
  Quarantine,
  QUARANTINE_NAME,
  type QuarantineEntry,
  quarantineNameOf,
  type RejectedEntry,
} from "./quarantine.ts";
export {
  checkPrivateDir,
  checkPrivateFile,
  ensurePrivateDir,
  readPrivateFile,
  statPrivateFile,
  writeFileAtomic,
  writeFileExclusive,
} from "./private_file.ts";
export {
  type ConfigVersion,
  type ConfigVersionTable,
  type VersionEntry,
  type VersionJudgement,
} from "./config_versions.ts";
export {
  AGENT_STATUSES,
  type AgentRegistration,
  type AgentStatus,
  type ObservedStatus,
  observedStatus,
  type ParamSummary,
  processAlive,
  processStartToken,
  type RegisteredAgent,
  type RegisteredTool,
  type RegistrationInput,
  registrationOf,
  type RegistryTable,
  type SignatureStatus,
  type SignatureVerdictLike,
} from "./registry.ts";
export { AgentRegistry, type AgentRegistryOptions, TOUCH_INTERVAL_MS } from "./agent_registry.ts";
export {
  type ApproveOptions,
  FIRST_USE,
  type PendingDefinition,
  type PinRow,
  type PinVerdict,
  ToolPins,
} from "./tool_pins.ts";
export {
  changedFields,
  DEFINITION_DIGEST,
  definitionDigest,
  type ToolDefinition,
} from "./tool_definition.ts";
export { ANOMALY_STATE_MIGRATION_SQL, AnomalyState } from "./anomaly_state.ts";
