import * as vscode from 'vscode';
import type { ItemLook } from '../viewModel/contracts';
import { stageLook, verdictLook } from '../viewModel/itemLooks';
import { parseItemUri } from './kdsUri';

/** The one decoration provider of KDS: colours and badges for every tree item, from the state in its URI. */
export class ItemDecorations implements vscode.FileDecorationProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri | vscode.Uri[] | undefined>();
  readonly onDidChangeFileDecorations = this.changed.event;
  private readonly registration: vscode.Disposable;

  constructor() {
    this.registration = vscode.window.registerFileDecorationProvider(this);
  }

  provideFileDecoration(uri: vscode.Uri): vscode.FileDecoration | undefined {
    const state = parseItemUri(uri);
    if (!state) return undefined;
    const look = lookOf(state.folder === 'in' ? state.stage : undefined, state.folder === 'in' ? undefined : state.verdict, state.folder === 'in');
    if (!look) return undefined;
    return new vscode.FileDecoration(look.badge, look.label, look.color ? new vscode.ThemeColor(look.color) : undefined);
  }

  dispose(): void {
    this.registration.dispose();
    this.changed.dispose();
  }
}

export function lookOf(stage: Parameters<typeof stageLook>[0] | undefined, verdict: Parameters<typeof verdictLook>[0], input: boolean): ItemLook | undefined {
  if (input) return stage ? stageLook(stage) : undefined;
  return verdictLook(verdict);
}
