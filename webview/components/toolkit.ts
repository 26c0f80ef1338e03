/**
 * The ONLY module (with its siblings in webview/components/) that knows about
 * @vscode/webview-ui-toolkit. Panels use the wrapper functions in this folder; replacing the
 * toolkit later means rewriting this folder and nothing else. Only the components we use are
 * registered, so the bundle stays small.
 */
import {
  provideVSCodeDesignSystem,
  vsCodeButton,
  vsCodeCheckbox,
  vsCodeDropdown,
  vsCodeOption,
  vsCodePanelTab,
  vsCodePanelView,
  vsCodePanels,
  vsCodeTextArea,
  vsCodeTextField,
} from '@vscode/webview-ui-toolkit';

let registered = false;

/** Registers the toolkit's custom elements once; every wrapper calls it. */
export function ensureToolkit(): void {
  if (registered) return;
  registered = true;
  provideVSCodeDesignSystem().register(
    vsCodeButton(),
    vsCodeCheckbox(),
    vsCodeDropdown(),
    vsCodeOption(),
    vsCodePanels(),
    vsCodePanelTab(),
    vsCodePanelView(),
    vsCodeTextArea(),
    vsCodeTextField(),
  );
}
