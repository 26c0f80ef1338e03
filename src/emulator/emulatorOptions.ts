import { t } from '../common/l10n';
import type { Logger } from '../common/log';
import type { StateShape } from './apiRoutes';
import { type FaultPlan, FaultSpecError, parseFaults } from './faults';
import { ICAP_MODES, type IcapMode } from './icapServiceLog';

export interface EmulatorOptions {
  /** Address to listen on; default 127.0.0.1. */
  host?: string;
  /** 0 picks a free port; default 8443. */
  port?: number;
  /** Holds certificates, password, approvals, scans and alerts; created when missing. */
  dataDir: string;
  /** Accept every new (sensorId, certificate) pair at once instead of leaving it pending. */
  autoApprove?: boolean;
  /** Body of GET scans/state: the documented bare array, or `{"scans":[…]}` seen in the field. */
  stateShape?: StateShape;
  /** How long a scan stays `processing`; default 300 ms. */
  verdictDelayMs?: number;
  /** Largest accepted object in bytes (413 above); default 100 MiB. */
  maxObjectSize?: number;
  /** More scans than this in `processing` → 429; default 1000. */
  maxProcessing?: number;
  /** `429=0.1,500=0.05,reset=0.02,latency=200`; see docs/emulator.md. */
  faults?: string;
  /** Port of the ICAP server (0 picks a free one); undefined: no ICAP server. `kds emulate` uses 1344. */
  icapPort?: number;
  /** Address of the ICAP server; default: the same as `host`. */
  icapHost?: string;
  /** KATA's ICAP integration mode; default blocking_simple. */
  icapMode?: IcapMode;
  /** blocking_advanced waits this long for a slow (KDS-TEST-SLOW) verdict; default 2000 ms. */
  icapAdvancedWaitMs?: number;
  logger?: Logger;
}

export const emulatorDefaults = Object.freeze({
  host: '127.0.0.1',
  port: 8443,
  dataDir: './kds-emulator-data',
  stateShape: 'array' as StateShape,
  verdictDelayMs: 300,
  maxObjectSize: 100 * 1024 * 1024,
  // A client sending hundreds of objects a second with the default 300 ms delay keeps a few
  // hundred in processing; a lower limit would turn a speed test into a 429 test.
  maxProcessing: 1000,
  icapPort: 1344,
  icapMode: 'blocking_simple' as IcapMode,
  icapAdvancedWaitMs: 2000,
});

export class EmulatorOptionError extends Error {}

export interface ResolvedOptions {
  host: string;
  port: number;
  dataDir: string;
  autoApprove: boolean;
  stateShape: StateShape;
  verdictDelayMs: number;
  maxObjectSize: number;
  maxProcessing: number;
  faults: FaultPlan;
  icap?: { host: string; port: number; mode: IcapMode; advancedWaitMs: number };
}

function integer(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw new EmulatorOptionError(t('{0} must be a whole number from {1} to {2}.', name, min, max));
  }
  return v;
}

/** parseFaults, failing with the same error type as every other bad option. */
export function faultPlanOf(spec: string | undefined): FaultPlan {
  try {
    return parseFaults(spec);
  } catch (err) {
    if (err instanceof FaultSpecError) throw new EmulatorOptionError(err.message);
    throw err;
  }
}

/** Applies the defaults and checks every value, so a bad option fails at start, not mid-test. */
export function resolveOptions(opts: EmulatorOptions): ResolvedOptions {
  if (!opts.dataDir) throw new EmulatorOptionError(t('A data folder is required.'));
  const stateShape = opts.stateShape ?? emulatorDefaults.stateShape;
  if (stateShape !== 'array' && stateShape !== 'scans') throw new EmulatorOptionError(t('--state-shape must be "array" or "scans".'));
  const faults = faultPlanOf(opts.faults);
  const icapMode = opts.icapMode ?? emulatorDefaults.icapMode;
  if (!ICAP_MODES.includes(icapMode)) throw new EmulatorOptionError(t('--icap-mode must be one of {0}.', ICAP_MODES.join(', ')));
  const icap =
    opts.icapPort === undefined
      ? undefined
      : {
          host: opts.icapHost || opts.host || emulatorDefaults.host,
          port: integer('--icap-port', opts.icapPort, emulatorDefaults.icapPort, 0, 65535),
          mode: icapMode,
          advancedWaitMs: integer('--icap-advanced-wait-ms', opts.icapAdvancedWaitMs, emulatorDefaults.icapAdvancedWaitMs, 0, 3_600_000),
        };
  return {
    host: opts.host || emulatorDefaults.host,
    port: integer('--port', opts.port, emulatorDefaults.port, 0, 65535),
    dataDir: opts.dataDir,
    autoApprove: opts.autoApprove ?? false,
    stateShape,
    verdictDelayMs: integer('--verdict-delay-ms', opts.verdictDelayMs, emulatorDefaults.verdictDelayMs, 0, 86_400_000),
    maxObjectSize: integer('--max-object-size', opts.maxObjectSize, emulatorDefaults.maxObjectSize, 1, 2 ** 40),
    maxProcessing: integer('--max-processing', opts.maxProcessing, emulatorDefaults.maxProcessing, 1, 1_000_000),
    faults,
    icap,
  };
}
