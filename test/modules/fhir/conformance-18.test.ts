import { conformancePart } from './conformance-cases.js';

conformancePart(18, 20);
