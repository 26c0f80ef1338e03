import type { KdsConfig } from './config';

/** One folder triple the service scans, with what may differ per share. */
export interface ShareFolders {
  /** A short identifier; `default` for the top-level in_dir/out_dir/qrnt_dir of the original configuration. */
  name: string;
  in_dir: string;
  out_dir: string;
  qrnt_dir: string;
  exclude_list: string;
  exclude_case_sensitive: boolean;
  max_file_size_mb: number;
}

/** The name of the one share a configuration without a `shares` key has. */
export const defaultShareName = 'default';

/**
 * The shares of a configuration, in its order. Today a configuration holds one folder triple at
 * the top level, the share `default`; reports (kds status, the Central Nodes view, kds fleet)
 * are per share from the start so that a configuration with several shares only changes this.
 */
export function sharesOf(config: KdsConfig): ShareFolders[] {
  return [
    {
      name: defaultShareName,
      in_dir: config.in_dir,
      out_dir: config.out_dir,
      qrnt_dir: config.qrnt_dir,
      exclude_list: config.exclude_list,
      exclude_case_sensitive: config.exclude_case_sensitive,
      max_file_size_mb: config.max_file_size_mb,
    },
  ];
}
