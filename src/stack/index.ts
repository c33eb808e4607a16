/** Public API of the local CDC stack (PostgreSQL, MariaDB, Kafka KRaft, Kafka Connect + Debezium). */
export { startStack, attachStack, stopState, resolveServices, type StartStackOptions } from './stack.js';
export {
  registerConnector,
  deleteConnector,
  connectorConfig,
  changeTopic,
  type ConnectorSpec,
  type RegisterOptions,
  type RegisteredConnector,
  type DeleteOptions,
  type SourceKind,
} from './connectors.js';
export { stackStatus, anyAlive, type ServiceStatus } from './status.js';
export { readState, writeState, removeState, stateDir, stateFile } from './state.js';
export { ensureJars, type Jars } from './jars.js';
export { StackError, type StackErrorCode } from './errors.js';
export {
  SERVICES,
  type ServiceName,
  type Stack,
  type StackState,
  type StopOptions,
  type PostgresInfo,
  type MariaDbInfo,
  type KafkaInfo,
  type ConnectInfo,
  type ServiceProcess,
} from './types.js';
export {
  restartService,
  stopService,
  startService,
  serviceRunning,
  servicePorts,
  serviceName,
  type RestartOptions,
  type RestartResult,
  type ServiceStopOptions,
  type ServiceStartOptions,
} from './restart.js';
