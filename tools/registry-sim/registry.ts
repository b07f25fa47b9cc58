import { AnswerMemory } from './memory.js';
import { FaultInjector } from './faults.js';
import { ackCodeFor, buildAck, issue, type AckCode, type Hl7Issue } from './hl7/ack.js';
import { answerQuery } from './hl7/qbp.js';
import { Hl7Reader } from './hl7/reader.js';
import { checkVxu } from './hl7/vxu.js';
import { DoseStore } from './store.js';
import type { SimOptions, SimStats } from './types.js';

type Counter = Exclude<keyof SimStats, 'faultsInjected' | 'storedDoses'>;

/** The registry's state and message handling, independent of the transport it is reached through. */
export class Registry {
  readonly store: DoseStore;
  readonly faults: FaultInjector;
  /** First answer per MSH-10, so a resent message gets the same ACK without being stored twice. */
  readonly acks: AnswerMemory<string>;
  private counters: Record<Counter, number> = zeroCounters();

  constructor(options: SimOptions) {
    this.store = new DoseStore(options.maxDoses ?? 500_000);
    this.faults = new FaultInjector(options.faults);
    this.acks = new AnswerMemory(options.maxRememberedMessages ?? 100_000);
  }

  count(counter: Counter): void {
    this.counters[counter] += 1;
  }

  countAck(code: AckCode): void {
    this.count(code === 'AA' ? 'accepted' : code === 'AE' ? 'acceptedWithErrors' : 'rejected');
  }

  stats(): SimStats {
    return { ...this.counters, faultsInjected: { ...this.faults.injected }, storedDoses: this.store.size };
  }

  reset(): void {
    this.counters = zeroCounters();
    this.store.clear();
    this.acks.clear();
    this.faults.reset();
  }

  /** Handles one HL7 v2 message from submitSingleMessage and returns the ACK or RSP. */
  submitHl7(text: string): string {
    this.count('received');
    const msg = Hl7Reader.parse(text);
    const msh = msg?.segment('MSH');
    if (!msg || !msh) {
      this.count('rejected');
      return buildAck(undefined, 'AR', [
        issue('100', 'E', ['MSH', 1], 'message must start with an MSH segment'),
      ]);
    }
    const type = msg.value(msh, 9, 1);
    const event = msg.value(msh, 9, 2);
    const controlId = msg.value(msh, 10);
    const header: Hl7Issue[] = [];
    if (!controlId)
      header.push(issue('101', 'E', ['MSH', 1, 10, 1], 'MSH-10 message control id is required'));
    const version = msg.value(msh, 12);
    if (!version) header.push(issue('101', 'E', ['MSH', 1, 12, 1], 'MSH-12 version id is required'));
    else if (version !== '2.5.1')
      header.push(issue('203', 'E', ['MSH', 1, 12, 1], `version "${version}" is not 2.5.1`));

    if (type === 'QBP' && event === 'Q11') {
      this.count('queries');
      if (header.length > 0) return buildAck(msg, 'AR', header, 'Q11');
      return answerQuery(msg, this.store).rsp;
    }
    if (type !== 'VXU' || event !== 'V04') {
      this.count('rejected');
      const unsupported = issue(
        '200',
        'E',
        ['MSH', 1, 9, 1],
        `message type "${type}^${event}" is not supported`,
      );
      return buildAck(msg, 'AR', [...header, unsupported], event || 'V04');
    }
    const remembered = controlId ? this.acks.get(controlId) : undefined;
    if (remembered !== undefined) {
      this.count('duplicateControlIds');
      return remembered;
    }
    const ack = this.processVxu(msg, controlId, header);
    if (controlId) this.acks.set(controlId, ack);
    return ack;
  }

  private processVxu(msg: Hl7Reader, controlId: string, header: Hl7Issue[]): string {
    const check = checkVxu(msg, controlId);
    const issues = [...header, ...check.issues];
    const forced = this.faults.forcedAck();
    if (forced)
      issues.push(
        issue(
          '207',
          forced === 'AR' ? 'E' : 'W',
          ['MSH', 1],
          `acknowledgement ${forced} forced by the simulator`,
        ),
      );
    if (ackCodeFor(issues) !== 'AR') {
      if (check.patient) this.store.upsertPatient(check.patient);
      for (const dose of check.doses) {
        if (dose.action !== 'D') this.store.put(dose);
        else if (!this.store.remove(dose.patientKey, dose.fillerOrder)) {
          issues.push(
            issue('204', 'W', ['ORC', 1, 3, 1], `no stored dose has filler order "${dose.fillerOrder}"`),
          );
        }
      }
    }
    const code = ackCodeFor(issues);
    this.countAck(code);
    return buildAck(msg, code, issues);
  }
}

function zeroCounters(): Record<Counter, number> {
  return { received: 0, accepted: 0, acceptedWithErrors: 0, rejected: 0, duplicateControlIds: 0, queries: 0 };
}
