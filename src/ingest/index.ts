export { CommitChain, createIngest, type Ingest, type IngestState, type IngestStatus } from './ingest.js';
export { compileIngestOptions, type IngestLogConfig, type IngestOptions, type IngestSourceConfig } from './config.js';
export { translate, type Outcome, type Translation } from './translate.js';
