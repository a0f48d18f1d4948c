/**
 * Calling a CDS service of the test app the way an EHR does, for tests about the cards rather than
 * the transport: every such call must succeed and conform to CDS Hooks 2.0 before its cards are read.
 */
import type { Express } from 'express';
import request from 'supertest';
import type { Card } from '../../src/core/cds-hooks';
import { expectConformantHookResponse } from './cds-conformance';

/** POSTs `body` to `endpoint`, expects 200 and a conformant response, and returns the response body. */
export async function callHook<T extends { cards: Card[] } = { cards: Card[] }>(
  app: Express,
  endpoint: string,
  body: Record<string, unknown>,
): Promise<T> {
  const res = await request(app).post(endpoint).send(body).expect(200);
  expectConformantHookResponse(res.body);
  return res.body as T;
}
