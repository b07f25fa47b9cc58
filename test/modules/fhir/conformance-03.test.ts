import { conformancePart } from './conformance-cases.js';

conformancePart(3, 4);
