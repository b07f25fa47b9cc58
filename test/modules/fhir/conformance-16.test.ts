import { conformancePart } from './conformance-cases.js';

conformancePart(16, 20);
