/**
 * Graph drivers by name, and the default for a host: `overlay2` where overlayfs works on the
 * root's file system, `btrfs` on btrfs, `vfs` otherwise (as Docker picks).
 * @module
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { BtrfsDriver, onBtrfs } from './btrfs.js';
import type { GraphDriver } from './driver.js';
import { GraphDriverError } from './errors.js';
import { overlaySupported } from './overlay-support.js';
import { Overlay2Driver } from './overlay2.js';
import { VfsDriver } from './vfs.js';

/** Names of the bundled drivers. */
export type GraphDriverName = 'overlay2' | 'vfs' | 'btrfs';

/** The driver a root at `root` gets when none is named. */
export async function defaultGraphDriver(root: string): Promise<GraphDriverName> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  if (await onBtrfs(root)) return 'btrfs';
  return (await overlaySupported(root)) === undefined ? 'overlay2' : 'vfs';
}

/** Opens the driver `name` with its data in `<root>/<name>`; GraphDriverError ENOTSUP for an unknown or unusable one. */
export async function openGraphDriver(name: string, root: string): Promise<GraphDriver> {
  const home = path.join(root, name);
  let driver: GraphDriver;
  switch (name) {
    case 'overlay2':
      driver = await Overlay2Driver.open(home);
      break;
    case 'vfs':
      driver = await VfsDriver.open(home);
      break;
    case 'btrfs':
      driver = await BtrfsDriver.open(home);
      break;
    default:
      throw new GraphDriverError(`unknown storage driver ${JSON.stringify(name)} (known: overlay2, vfs, btrfs)`, 'ENOTSUP', name);
  }
  await driver.repair();
  return driver;
}
