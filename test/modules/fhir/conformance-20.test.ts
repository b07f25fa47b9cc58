import { conformancePart } from './conformance-cases.js';

conformancePart(20, 20);
