// Interop: an image berth pushes to a real docker-registry is read by `skopeo inspect`, copied
// by `skopeo copy` to an OCI layout (layers verified by skopeo) and pulled by `podman pull`
// (private --root/--runroot); images pushed by skopeo (gzip, zstd, a multi-platform index) are
// pulled by berth and run — see registry.test.ts for those.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBusyboxRootfs, Engine, pushImage, RegistryClient } from '../src/index.js';
import { REGISTRY_BIN, sh, startRegistry, tmpBase, type RunningRegistry } from './registry-support.js';
import { installed, removeDefaultNetwork } from './support.js';

const haveTools = installed(import.meta.url, REGISTRY_BIN, 'skopeo', 'podman');

describe.skipIf(!haveTools)('registry interop with skopeo and podman', () => {
  let base: string;
  let reg: RunningRegistry;
  let engine: Engine;
  let client: RegistryClient;

  beforeAll(async () => {
    base = await tmpBase();
    reg = await startRegistry(base);
    const rootfs = await createBusyboxRootfs(path.join(base, 'rootfs'));
    engine = await Engine.open({ root: path.join(base, 'root'), storageDriver: 'overlay2' });
    await engine.import(execFileSync('tar', ['-C', rootfs, '-c', '.'], { maxBuffer: 64 << 20 }), { reference: 'interop:base', config: { Cmd: ['sh'] } });
    client = new RegistryClient({ insecure: [reg.host] });
  }, 60_000);

  afterAll(async () => {
    client?.close();
    if (engine !== undefined) {
      for (const c of await engine.containers()) await c.remove({ force: true });
      await removeDefaultNetwork(engine);
    }
    await reg?.stop();
    await rm(base, { recursive: true, force: true });
  });

  for (const [format, compression] of [['docker', 'gzip'], ['oci', 'zstd']] as const) {
    it(`an image berth pushed (${format} manifest, ${compression} layer) is inspected and copied by skopeo and pulled by podman`, async () => {
      // an image of its own, so its commit layer is compressed as asked
      const c = await engine.create('interop:base', { cmd: ['sh', '-c', 'echo from-berth > /etc/marker'] });
      await c.start();
      await c.wait();
      await engine.commit(c.id, { reference: `interop:${format}` });
      await c.remove();
      const ref = `${reg.host}/interop/${format}:1`;
      const pushed = await pushImage(client, engine.images, `interop:${format}`, ref, { format, compression });
      expect(pushed.mediaType).toBe(format === 'oci' ? 'application/vnd.oci.image.manifest.v1+json' : 'application/vnd.docker.distribution.manifest.v2+json');
      const inspect = JSON.parse(sh('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`])) as { Digest: string; Layers: string[]; Architecture: string };
      expect(inspect.Digest).toBe(pushed.digest);
      expect(inspect.Layers).toEqual(pushed.layers.map((l) => l.digest));
      const raw = JSON.parse(sh('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])) as { mediaType: string };
      expect(raw.mediaType).toBe(pushed.mediaType);
      const layout = path.join(base, `skopeo-${format}`);
      sh('skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--dest-oci-accept-uncompressed-layers', `docker://${ref}`, `oci:${layout}:x`]);
      // skopeo verified every blob; an OCI manifest is kept as is (a Docker one is converted to OCI, the blobs unchanged)
      const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
      const copied = JSON.parse(readFileSync(path.join(layout, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as { layers: Array<{ digest: string; mediaType: string }> };
      expect(copied.layers.map((l) => l.digest)).toEqual(pushed.layers.map((l) => l.digest));
      if (format === 'oci') {
        expect(index.manifests[0]!.digest).toBe(pushed.digest);
        expect(copied.layers[1]!.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
      }
      const pr = path.join(base, `podman-${format}`);
      const podman = ['--root', path.join(pr, 'root'), '--runroot', path.join(pr, 'run'), '--storage-driver', 'vfs'];
      sh('podman', [...podman, 'pull', '-q', '--tls-verify=false', ref], { timeout: 180_000 });
      const pinspect = JSON.parse(sh('podman', [...podman, 'image', 'inspect', ref])) as Array<{ Digest: string; RepoDigests: string[] }>;
      expect(pinspect[0]!.Digest).toBe(pushed.digest);
      // podman extracted the layers it verified: the file the commit made is in its image
      const mount = sh('podman', [...podman, 'image', 'mount', ref]).trim();
      expect(readFileSync(path.join(mount, 'etc', 'marker'), 'utf8')).toBe('from-berth\n');
      sh('podman', [...podman, 'image', 'unmount', ref]);
      sh('podman', [...podman, 'rmi', '-a', '-f']);
    }, 240_000);
  }
});
