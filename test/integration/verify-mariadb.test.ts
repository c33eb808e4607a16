import { freshMariaDb } from '../support/services.js';
import { verifySuite } from './verify-suite.js';

verifySuite('mysql', () => freshMariaDb('verify'));
