import { posix } from 'node:path';
import { t } from '../common/l10n';
import { parseConfigText } from '../engine/config';
import { renderLogrotate, renderServiceUnit } from '../engine/serviceUnit';
import { commandLine } from '../ssh/shellCommand';
import {
  type Action,
  type Layout,
  type PlanInputs,
  type SetupStep,
  cnShares,
  defaultCredentialsPath,
  engineExec,
  foldersStep,
  layout,
  listedSharesForCn,
  mountTargets,
  mountsStep,
  shareExcludeWrites,
  stamp,
} from './setupPlan';

/**
 * `kds remote setup --add-shares` (and "Add Shares" in VS Code) as data: a CN already set up
 * gets the shares of the local configuration it does not have, and nothing else changes — its
 * engine, certificate, integration (one system_id, already approved), identity and limits, the
 * shares it serves and their mounts and exclude lists stay as they are. Only the new shares'
 * mounts (fstab lines added, none replaced), folders and exclude lists are made, the configuration
 * gets their entries, the unit is rewritten (it names every share's folders) and the service is
 * restarted; if it does not stay running, the previous configuration and unit are put back.
 */

/**
 * The installed configuration with the local configuration's listed shares it does not have
 * appended (folders on /mnt/<name>/…, exclude lists in the installation folder); everything
 * installed stays as it is. Throws when there is nothing to add or the result does not validate.
 */
export function withAddedShares(localText: string, installedText: string, l: Layout): { text: string; systemId: string; added: string[] } {
  const local = JSON.parse(localText.replace(/^\uFEFF/, '')) as Record<string, unknown>;
  if (local === null || typeof local !== 'object' || Array.isArray(local)) throw new Error(t('The configuration is not a JSON object.'));
  const listed = listedSharesForCn(local, l) ?? [];
  if (listed.length === 0) throw new Error(t('The configuration lists no shares (the "shares" key): there is no share to add.'));
  const installed = parseConfigText(installedText, l.config);
  const have = new Set(installed.config.shares.map((s) => s.name.toLowerCase()));
  const fresh = listed.filter((e) => !have.has(String((e as { name?: unknown }).name).toLowerCase()));
  if (fresh.length === 0) {
    throw new Error(t('The configuration on the CN already has every share of this configuration ({0}): there is no share to add.', installed.config.shares.map((s) => s.name).join(', ')));
  }
  const raw = JSON.parse(installedText.replace(/^\uFEFF/, '')) as Record<string, unknown>;
  const text = JSON.stringify({ ...raw, shares: [...(Array.isArray(raw.shares) ? raw.shares : []), ...fresh] }, null, 2) + '\n';
  parseConfigText(text, l.config);
  return { text, systemId: installed.config.system_id, added: fresh.map((e) => (e as { name: string }).name) };
}

/** The credentials file of shares added later: their own, so the file the installed mounts read is not rewritten. */
export function addedCredentialsPath(added: string[]): string {
  return `${defaultCredentialsPath}.${added[0]}`;
}

/** The plan that adds `added` (cnConfigText: withAddedShares' text) to a CN already set up. */
export function buildAddSharesPlan(p: PlanInputs & { added: string[] }): SetupStep[] {
  const prefix = p.prefix || undefined;
  const unitName = p.unitName ?? 'kata-dir-scanner';
  const l = layout(prefix, unitName);
  const f = p.facts;
  const now = p.now ?? new Date();
  const root = !prefix;
  const names = p.added.join(', ');
  const steps: SetupStep[] = [];

  if (p.shares) {
    steps.push(mountsStep(p.shares, prefix, l, f, now, mountTargets(p, l, { topLevel: false, listed: p.added }), p.credentialsPath ?? addedCredentialsPath(p.added)));
  } else if (p.folders) {
    steps.push(foldersStep(p.added.map((n) => l.shareFolders(n)), root));
  }

  const configBackup = `${l.config}.kds-backup-${stamp(now)}`;
  const unitBackup = `${l.unit}.kds-backup-${stamp(now)}`;
  {
    const cn = cnShares(p.cnConfigText);
    const kept = [...(cn.topLevel ? ['default'] : []), ...cn.listed.filter((n) => !p.added.includes(n))];
    const notes = [t('the engine, client certificate, integration and the shares already served ({0}) are left as they are', kept.join(', '))];
    const actions: Action[] = [{ kind: 'write', path: l.config, mode: 0o600, data: p.cnConfigText, root, backup: configBackup, purpose: t('configuration with the entries of shares {0}', names) }];
    actions.push(...shareExcludeWrites(p, l, f, p.added, notes));
    const rollback: Action[] = [{ kind: 'run', argv: ['cp', '-p', configBackup, l.config], root, purpose: t('restore the previous configuration') }];
    if (f.hasUnit) {
      rollback.push({ kind: 'run', argv: ['cp', '-p', unitBackup, l.unit], root, purpose: t('restore the previous unit') });
      rollback.push({ kind: 'run', argv: ['systemctl', 'daemon-reload'], root: true, needsRealSystem: true, purpose: t('reload the units') });
    }
    const rollbackSays = {
      restoring: t('The service did not stay running with shares {0}; restoring the previous configuration and unit.', names),
      failed: t('the service failed to start with shares {0}; the previous configuration and unit were restored and the service restarted on them', names),
    };
    steps.push({ id: 'engine', title: t('Configuration and exclude lists of shares {0}', names), actions, notes, rollback, rollbackSays });
  }

  {
    const cfg = parseConfigText(p.cnConfigText, l.config).config;
    const exec = engineExec(f.installedEngineKind ?? p.engine.kind, l, f.nodePath);
    const name = `${unitName}.service`;
    const actions: Action[] = [
      { kind: 'mkdir', path: posix.dirname(l.unit), mode: 0o755, root, purpose: t('unit folder') },
      { kind: 'write', path: l.unit, mode: 0o644, data: renderServiceUnit(cfg, { exec, unitName }), root, ...(f.hasUnit && { backup: unitBackup }), purpose: t('systemd unit (kds service)') },
      { kind: 'write', path: l.logrotate, mode: 0o644, data: renderLogrotate(cfg, { unitName }), root, purpose: t('logrotate snippet') },
      { kind: 'run', argv: ['systemctl', 'daemon-reload'], root: true, needsRealSystem: true, purpose: t('reload the units') },
      { kind: 'run', argv: ['systemctl', 'restart', name], root: true, needsRealSystem: true, purpose: t('restart the service to serve shares {0}', names) },
      { kind: 'run', argv: ['systemctl', 'status', '--no-pager', '--lines=20', name], root: false, needsRealSystem: true, okCodes: [0, 1, 2, 3, 4], purpose: t('show its status') },
    ];
    const verify: Action[] = [{ kind: 'run', argv: ['systemctl', 'is-active', '--quiet', name], root: false, needsRealSystem: true, purpose: t('check that the service is running') }];
    const noSystemd = !prefix && !f.hasSystemd;
    const notes = noSystemd ? [t('systemd does not run on the CN: restart the engine yourself so that it serves the new shares: {0}', commandLine([...exec, 'run', '--config', l.config]))] : [];
    steps.push({ id: 'unit', title: t('Service {0}: unit, daemon-reload, restart', name), actions, notes, rollback: [], verify, ...(noSystemd && { skipped: t('no systemd') }) });
  }
  return steps;
}
