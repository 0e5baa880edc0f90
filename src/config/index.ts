export { loadConfig } from './load-config.ts';
export { Secret, maskUrl } from './secret.ts';
export type * from './types.ts';
