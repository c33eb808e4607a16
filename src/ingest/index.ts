export { createIngest, type Ingest, type IngestState, type IngestStatus } from './ingest.js';
export { compileIngestOptions, type IngestLogConfig, type IngestOptions, type IngestSourceConfig } from './config.js';
export { REASON_HEADER, SOURCE_HEADER, type DeadLetterDocument } from './deadLetter.js';
export { translate, type Outcome, type Translation } from './translate.js';
