/**
 * The registry client options the CLI's settings give: Docker Hub mirrors (`--registry-mirror`,
 * which like dockerd's apply to docker.io only) and plain-HTTP registries
 * (`--insecure-registry`); credentials from the docker-style config file.
 * @module
 */
import type { RegistryClientOptions } from '../../registry/client.js';
import type { Settings } from './settings.js';

/** Client options from the settings. */
export function registryOptions(settings: Settings): RegistryClientOptions {
  return {
    insecure: settings.insecureRegistries,
    ...(settings.registryMirrors.length > 0 ? { mirrors: { 'docker.io': settings.registryMirrors } } : {}),
  };
}
