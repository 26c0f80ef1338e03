import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { currentLocale, t } from '../common/l10n';
import type { AnalysisMessage, AnalysisRequest } from './analysisProcess';
import type { AnalyzeOptions, CaptureAnalysis } from './analyzeCapture';

/** The child's V8 heap limit: the analysis is designed to stay far below (peak RSS ≤ 256 MiB for any capture up to 1 GB). */
export const analysisHeapMb = 384;

export type IsolatedAnalysisOptions = AnalysisRequest['options'] & {
  locale?: string;
  onProgress?: AnalyzeOptions['onProgress'];
  signal?: AbortSignal;
  /** Heap limit of the child, MB (tests make it small). */
  heapMb?: number;
};

/** The child's script: bundled next to the extension (dist/captureAnalysis.js), or the TypeScript source under tsx. */
function childEntry(): { script: string; execArgv: string[] } {
  if (__filename.endsWith('.ts')) return { script: join(__dirname, 'analysisProcess.ts'), execArgv: ['--import', 'tsx'] };
  return { script: join(__dirname, 'captureAnalysis.js'), execArgv: [] };
}

/**
 * Analyzes a capture in a child process with its own memory limit, as VS Code does: whatever the
 * file holds, the extension host's memory and event loop are not at stake. Cancelling kills the child.
 */
export function analyzeCaptureIsolated(file: string, opts: IsolatedAnalysisOptions = {}): Promise<CaptureAnalysis> {
  const { onProgress, signal, heapMb = analysisHeapMb, locale = currentLocale(), ...options } = opts;
  return new Promise<CaptureAnalysis>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const entry = childEntry();
    let child: ChildProcess;
    let stderr = '';
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      fn();
    };
    const onAbort = () => {
      child.kill('SIGKILL');
      settle(() => reject(signal!.reason));
    };
    try {
      child = fork(entry.script, [], { execArgv: [...entry.execArgv, `--max-old-space-size=${heapMb}`], stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced' });
    } catch (err) {
      reject(err);
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    // V8 prints its native stack after "heap out of memory": the tail alone may no longer hold the words.
    let outOfMemory = false;
    child.stderr!.on('data', (d: Buffer) => {
      const text = stderr.slice(-200) + d.toString('utf8');
      if (/heap out of memory|Allocation failed/i.test(text)) outOfMemory = true;
      stderr = (stderr + d.toString('utf8')).slice(-4000);
    });
    child.on('message', (m: AnalysisMessage) => {
      if (m.type === 'progress') onProgress?.(m.done, m.total);
      else if (m.type === 'result') settle(() => resolve(m.analysis));
      else settle(() => reject(new Error(m.message)));
    });
    child.on('error', (err) => settle(() => reject(err)));
    // 'close' comes after the last message from the child has been handled.
    child.on('close', (code, sig) => {
      if (outOfMemory) {
        settle(() => reject(new Error(t('The analysis of {0} needed more memory than its limit ({1} MB) and was stopped.', file, heapMb))));
      } else {
        const why = stderr.trim().split('\n').slice(-3).join(' ') || (sig ? `signal ${sig}` : `exit code ${code}`);
        settle(() => reject(new Error(t('The analysis of {0} failed: {1}', file, why))));
      }
    });
    const request: AnalysisRequest = { file, locale, options };
    child.send(request);
  });
}
