import { type CheckItem, type CheckStatus, collectChecks } from '../engine/configChecks';
import { observabilityChecks } from '../observability/settingsChecks';

/**
 * "Test connection" of the configuration editor: the checklist of `kds check`, as data.
 */

export interface ConnectionCheckItem {
  /** Stable identifier: config, in_dir, out_dir, qrnt_dir, exclude_list, client_cert, key_permissions, kata_ca, insecure, kata_tls, kata_approval, max_object_size, metrics_listen, siem. */
  id: string;
  status: CheckStatus;
  /** Localised, as `kds check` prints it. */
  title: string;
  details: string[];
}

export interface ConnectionTestResult {
  /** Absolute path when the configuration validated, otherwise as given. */
  configPath: string;
  /** As `kds check`: 0 all passed (warnings allowed), 1 a check failed, 2 the configuration does not validate, 3 only KATA's approval is missing. */
  exitCode: number;
  items: ConnectionCheckItem[];
}

export interface ConnectionTestOptions {
  /** Check this text (e.g. the unsaved form, from renderConfig) instead of the file's content; relative paths still resolve against the folder of `configPath`. */
  text?: string;
  /** Per-request limit for the KATA calls; default 15 s as in the CLI. */
  requestTimeoutMs?: number;
}

/** Runs every check of `kds check` on `configPath` and returns the checklist (JSON-serialisable). */
export async function testConnection(configPath: string, options: ConnectionTestOptions = {}): Promise<ConnectionTestResult> {
  const r = await collectChecks(configPath, { ...options, more: (c) => observabilityChecks(c) });
  return { configPath: r.configPath, exitCode: r.exitCode, items: r.items.map(toItem) };
}

function toItem(i: CheckItem): ConnectionCheckItem {
  return { id: i.id, status: i.status, title: i.title, details: [...i.details] };
}
