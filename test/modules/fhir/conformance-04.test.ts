import { conformancePart } from './conformance-cases.js';

conformancePart(4, 4);
