import { freshPostgresDb } from '../support/services.js';
import { verifySuite } from './verify-suite.js';

verifySuite('postgres', () => freshPostgresDb('verify'));
