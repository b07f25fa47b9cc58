import { conformancePart } from './conformance-cases.js';

conformancePart(17, 20);
