import { conformancePart } from './conformance-cases.js';

conformancePart(15, 20);
