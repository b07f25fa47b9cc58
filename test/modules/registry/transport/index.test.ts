import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TransportError } from '../../../../src/modules/registry/transport/errors.js';
import { createTransport, TransportRegistry } from '../../../../src/modules/registry/transport/index.js';
import type { RegistryTransport } from '../../../../src/modules/registry/transport/index.js';
import type { RegistryEndpointConfig } from '../../../../src/modules/registry/transport/types.js';

function config(id: string, overrides: Partial<RegistryEndpointConfig> = {}): RegistryEndpointConfig {
  return {
    id,
    name: `IIS ${id}`,
    transport: 'fhir',
    url: 'http://127.0.0.1:1/fhir',
    credentials: { kind: 'hmac', secret: 'first-secret' },
    timeoutMs: 500,
    rateLimitPerSecond: 0,
    maxConcurrent: 2,
    retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    breaker: { consecutiveFailures: 2, halfOpenAfterMs: 60_000 },
    ...overrides,
  };
}

async function refused(transport: RegistryTransport): Promise<boolean> {
  try {
    await transport.policy.execute(async () => 'ran');
    return false;
  } catch (error) {
    return error instanceof TransportError;
  }
}

describe('createTransport', () => {
  test('builds the transport named by the configuration', async () => {
    const soap = createTransport(config('a', { transport: 'cdc-soap', credentials: { kind: 'none' } }));
    const fhir = createTransport(config('b'));
    assert.equal(soap.kind, 'cdc-soap');
    assert.equal(fhir.kind, 'fhir');
    await Promise.all([soap.close(), fhir.close()]);
  });
});

describe('TransportRegistry', () => {
  test('keeps one transport per endpoint and rebuilds it when the configuration changes', async () => {
    const registry = new TransportRegistry();
    const first = registry.get(config('a'));
    assert.equal(registry.get(config('a')), first, 'same configuration, same transport');
    assert.notEqual(registry.get(config('b')), first);

    const rotated = registry.get(config('a', { credentials: { kind: 'hmac', secret: 'second-secret' } }));
    assert.notEqual(rotated, first, 'a credential change must rebuild the transport');
    assert.equal(await refused(first), true, 'the replaced transport refuses new calls');
    assert.equal(await rotated.policy.execute(async () => 'ran'), 'ran');
    assert.equal(
      registry.get(config('a', { credentials: { kind: 'hmac', secret: 'second-secret' } })),
      rotated,
    );
    await registry.close();
    assert.equal(await refused(rotated), true);
  });

  test('a replaced transport finishes its running calls before closing', async () => {
    const registry = new TransportRegistry();
    const first = registry.get(config('a'));
    let release: (() => void) | undefined;
    let closed = false;
    const running = first.policy.execute(
      () => new Promise<string>((resolve) => (release = () => resolve('done'))),
    );
    void first.policy.whenIdle().then(() => (closed = true));
    registry.get(config('a', { timeoutMs: 400 }));
    while (!release) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(closed, false, 'closed while a call was running');
    release();
    assert.equal(await running, 'done');
    await registry.close();
    assert.equal(closed, true);
  });

  test('reports every breaker with its state', async () => {
    const registry = new TransportRegistry();
    const a = registry.get(config('a'));
    registry.get(config('b'));
    const failure = async () => {
      throw new TransportError({ kind: 'network', transient: true, message: 'down' });
    };
    await assert.rejects(a.policy.execute(failure));
    await assert.rejects(a.policy.execute(failure));
    const states = registry.breakerStates();
    assert.equal(states.length, 2);
    const stateA = states.find((s) => s.endpointId === 'a');
    assert.equal(stateA?.name, 'IIS a');
    assert.equal(stateA?.state, 'open');
    assert.ok(stateA?.openedAt instanceof Date);
    assert.deepEqual(
      states.find((s) => s.endpointId === 'b'),
      { endpointId: 'b', name: 'IIS b', state: 'closed' },
    );
    registry.remove('a');
    assert.deepEqual(
      registry.breakerStates().map((s) => s.endpointId),
      ['b'],
    );
    await registry.close();
  });
});
