import { type AnalyzeOptions, type CaptureAnalysis, analyzeCaptureFile } from './analyzeCapture';
import type { CaptureHost } from './captureHost';
import { type CaptureOptions, type CaptureEvents, type CaptureResult, runCapture } from './tcpdumpRunner';

/**
 * The one call the CLI, VS Code and the support bundle use: a bounded capture on a host (this
 * machine or a Central Node), the file copied to `out`, then its analysis. Plain data back.
 */
export async function captureAndAnalyze(
  host: CaptureHost,
  options: CaptureOptions,
  events: CaptureEvents = {},
  analyze: Omit<AnalyzeOptions, 'port'> = {},
): Promise<{ capture: CaptureResult; analysis: CaptureAnalysis }> {
  const capture = await runCapture(host, options, events);
  const analysis = await analyzeCaptureFile(capture.file, { ...analyze, port: options.port });
  return { capture, analysis };
}
