import { mariadb } from './project-apply-dialect.js';
import { projectApplySuite } from './project-apply-suite.js';

projectApplySuite(mariadb);
