/** HL7 v2.5.1 immunization messaging (CDC guide release 1.5, 2018 update): VXU, ACK, QBP, RSP. */
export { buildVxu, type VxuInput, type Hl7Party } from './vxu.js';
export { parseAck, type Ack, type AckCode, type Hl7Error } from './ack.js';
export { buildQbp, type QbpInput } from './qbp.js';
export {
  parseRsp,
  PATIENT_PLACEHOLDER,
  FILLER_ORDER_SYSTEM,
  type RspResult,
  type DoseEvaluation,
  type QueryStatus,
} from './rsp.js';
export { Hl7ParseError, Hl7BuildError } from './errors.js';
export { escapeHl7, unescapeHl7 } from './escape.js';
export {
  fhirToHl7Ts,
  fhirToHl7Date,
  hl7TsToFhir,
  hl7TsToFhirDate,
  instantToHl7Ts,
  type Hl7TsOptions,
} from './datetime.js';
export { MAX_CONTROL_ID_LENGTH } from './header.js';
