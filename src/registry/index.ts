/**
 * The registry client (Distribution v2 / OCI distribution): transport, auth, credentials,
 * pull, push, listing and search.
 * @module
 */
export { RegistryError } from './errors.js';
export type { RegistryErrorDetails } from './errors.js';
export { basicAuth, mergeScopes, parseChallenges, repositoryScope, TokenCache, tokenOf } from './auth.js';
export type { AuthChallenge, CachedToken, Credentials, TokenLifetime, TokenResponse } from './auth.js';
export { CredentialStore, defaultCredentialsFile, DOCKER_HUB_AUTH_KEY, registryHostKey } from './credentials.js';
export type { DockerAuthEntry, DockerConfigFile } from './credentials.js';
export { isRetryableNetworkError, networkErrorCode, readBody, RegistryClient, responseError, retryAfterMs } from './client.js';
export type { CredentialSource, Endpoint, PingResult, RegistryClientOptions, RegistryRequest, RegistryResponse } from './client.js';
export { blobSize, fetchBlob, uploadBlob } from './blobs.js';
export type { FetchBlobOptions, UploadBlobOptions, UploadResult } from './blobs.js';
export { checkDescriptor, fetchManifest, MANIFEST_MEDIA_TYPES, manifestExists, MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE, parseManifest, putManifest } from './manifests.js';
export type { FetchedManifest, ParsedImageManifest, ParsedIndex, ParsedManifest } from './manifests.js';
export { choosePlatform, isAttestation, normalizePlatform, parsePlatform, platformRank, platformString } from './platform.js';
export { pullImage } from './pull.js';
export type { LayerState, PullOptions, PullProgress, PullResult } from './pull.js';
export { pushImage } from './push.js';
export type { PushedBlob, PushOptions, PushProgress, PushResult, PushState } from './push.js';
export { listCatalog, listTags, nextLink, searchRegistry } from './catalog.js';
export type { ListOptions, SearchOptions, SearchResult } from './catalog.js';
export { login, logout } from './login.js';
export type { LoginOptions, LoginResult } from './login.js';
