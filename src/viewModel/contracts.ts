/**
 * The contract between the pure view-model layer (src/viewModel, plain Node, unit-tested) and
 * the VS Code layer (src/extension). The views never look at the engine directly: they consume
 * an EngineSource, which in local mode wraps the in-process ScannerEngine and in Central Node
 * mode follows the service's JSON-lines event stream over SSH (src/centralNode/remoteEngineSource.ts).
 */
import type { ApprovalState, EngineEvent, FileRecord, FileStage, Verdict } from '../engine/events';
import type { Destination } from '../engine/journal';
import type { FolderState } from '../engine/shareName';

export interface EngineSnapshot {
  running: boolean;
  approval: ApprovalState;
  files: FileRecord[];
  /** Each share's folders as the engine last found them (absent from engines older than shares). */
  folders?: FolderState[];
  /** What the KATA administrator must match before approving: shown while approval is pending. */
  identity?: EngineIdentity;
}

export interface EngineIdentity {
  systemId: string;
  fingerprint256: string;
}

export interface EngineSource {
  onEvent(listener: (event: EngineEvent) => void): () => void;
  snapshot(): EngineSnapshot;
}

export type FolderKind = 'in' | 'out' | 'qrnt';

/** One row of a tree, whatever the folder; everything a label, tooltip or decoration needs. */
export interface FolderItem {
  folder: FolderKind;
  /** The share whose folder holds the file (`default` for a one-share configuration). */
  share?: string;
  name: string;
  path: string;
  size: number;
  mtimeMs: number;
  /** Input only. */
  stage?: FileStage;
  stageReason?: string;
  /** Output and quarantine: from the engine's routed events or its journal history. */
  verdict?: Verdict;
  rawState?: string;
  threat?: string;
  sha256?: string;
  scanId?: string;
  submittedAt?: number;
  routedAt?: number;
  /** Output only: moved there from quarantine by a person, per the quarantine audit. */
  released?: { by: string; at: number };
}

/** How a stage or verdict looks: a theme colour id, a codicon id and a short badge. */
export interface ItemLook {
  label: string;
  /** A ThemeColor id, e.g. 'charts.red' or 'testing.iconPassed'. */
  color?: string;
  icon: string;
  /** At most 2 characters, for FileDecoration.badge. */
  badge?: string;
}

export type { Destination };
