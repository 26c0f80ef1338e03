/**
 * The child process in which VS Code's capture analysis runs (isolatedAnalysis.ts starts it with
 * its own heap limit): a capture too much for the limit ends this process, not the extension host.
 * One request over IPC, progress messages, then the analysis; then it exits.
 */
import { initL10n } from '../common/l10n';
import { type AnalyzeOptions, analyzeCaptureFile } from './analyzeCapture';

export interface AnalysisRequest {
  file: string;
  /** The language of the diagnosis (the parent's). */
  locale: string;
  options: Pick<AnalyzeOptions, 'port' | 'slowMs' | 'maxTransactions' | 'limits'>;
}

export type AnalysisMessage = { type: 'progress'; done: number; total: number } | { type: 'result'; analysis: Awaited<ReturnType<typeof analyzeCaptureFile>> } | { type: 'error'; message: string };

function send(m: AnalysisMessage): Promise<void> {
  return new Promise((resolve) => process.send!(m, undefined, undefined, () => resolve()));
}

process.once('message', (req: AnalysisRequest) => {
  void (async () => {
    initL10n(req.locale);
    try {
      const analysis = await analyzeCaptureFile(req.file, { ...req.options, onProgress: (done, total) => void send({ type: 'progress', done, total }) });
      await send({ type: 'result', analysis });
    } catch (err) {
      await send({ type: 'error', message: (err as Error).message });
    }
    process.disconnect();
  })();
});
