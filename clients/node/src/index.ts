/**
 * session-store: the TypeScript client of the session_store PostgreSQL
 * extension, and drop-in session services for @google/adk and @openai/agents.
 *
 * This entry point loads both frameworks; with only one installed, import
 * `session-store/client`, `session-store/adk` or `session-store/openai`.
 */
export * from './errors.js';
export * from './client.js';
export * from './install.js';
export * from './pglite.js';
export * from './adk.js';
export * from './openai.js';
