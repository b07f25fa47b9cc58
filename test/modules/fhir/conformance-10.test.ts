import { conformancePart } from './conformance-cases.js';

conformancePart(10, 20);
