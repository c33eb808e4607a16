import { postgres } from './project-apply-dialect.js';
import { projectSharedSuite } from './project-shared-suite.js';

projectSharedSuite(postgres);
