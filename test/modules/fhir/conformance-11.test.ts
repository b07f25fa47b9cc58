import { conformancePart } from './conformance-cases.js';

conformancePart(11, 20);
