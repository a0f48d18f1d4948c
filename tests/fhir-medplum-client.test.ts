import { MedplumClient } from '@medplum/core';
import type { Bundle, BundleEntry, QuestionnaireResponse, RiskAssessment } from 'fhir/r4';
import { listenDevAuthApp, signDevClientJwt, type ListeningDevAuthApp } from './support/dev-client';
import { buildResponse } from './support/build-response';
import { WELLS_LIKELY_ANSWERS } from './support/wells';
import { writtenCounts } from './support/store-counts';
import { readAssessment } from './support/read-assessment';

/**
 * MedplumClient (@medplum/core), unmodified, against the running service over real HTTP with auth on:
 * the calls an integrator makes, without a workaround.
 */
describe('MedplumClient against the service', () => {
  let served: ListeningDevAuthApp;
  let medplum: MedplumClient;

  beforeAll(async () => {
    const now = new Date();
    served = await listenDevAuthApp(now);
    const token = await signDevClientJwt(`${served.origin}/fhir`, {
      now,
      claims: { scope: 'user/QuestionnaireResponse.cruds user/RiskAssessment.rs user/Provenance.rs user/Questionnaire.rs' },
    });
    medplum = new MedplumClient({ baseUrl: `${served.origin}/`, fhirUrlPath: 'fhir', fetch, cacheTime: 0 });
    medplum.setAccessToken(token);
  });
  afterAll(async () => {
    await served.close();
  });

  const qr = (subject: string) => buildResponse(WELLS_LIKELY_ANSWERS, { subject });

  it('creates, reads, vreads, updates, reads history and searches with paging', async () => {
    const created = await medplum.createResource(qr('Patient/m1'));
    expect(created.meta?.versionId).toBe('1');
    expect((await medplum.readResource('QuestionnaireResponse', created.id)).id).toBe(created.id);
    const updated = await medplum.updateResource({ ...created, status: 'amended' });
    expect(updated.meta?.versionId).toBe('2');
    expect((await medplum.readVersion('QuestionnaireResponse', created.id, '1')).status).toBe('completed');
    const history = await medplum.readHistory('QuestionnaireResponse', created.id);
    expect(history.total).toBe(2);
    await medplum.createResource(qr('Patient/m1'));
    await medplum.createResource(qr('Patient/m1'));
    const pages: number[] = [];
    for await (const page of medplum.searchResourcePages('QuestionnaireResponse', { patient: 'Patient/m1', _count: 2 }))
      pages.push(page.length);
    expect(pages).toEqual([2, 1]);
    const assessments = await medplum.searchResources('RiskAssessment', { basis: `QuestionnaireResponse/${created.id}` });
    expect(readAssessment(assessments[0] as unknown as Parameters<typeof readAssessment>[0]).score).toBe(3);
  });

  it('conditional create (createResourceIfNoneExist) stores a retried submission once', async () => {
    const identifier = [{ system: 'https://portal.example.org', value: 'medplum-1' }];
    const body = { ...qr('Patient/m2'), identifier: identifier[0] } as QuestionnaireResponse;
    const first = await medplum.createResourceIfNoneExist(body, 'identifier=https://portal.example.org|medplum-1');
    const again = await medplum.createResourceIfNoneExist(body, 'identifier=https://portal.example.org|medplum-1');
    expect(again.id).toBe(first.id);
    expect((await medplum.searchResources('RiskAssessment', { patient: 'Patient/m2' })).length).toBe(1);
  });

  it('$evaluate, batch and transaction', async () => {
    const evaluated = (await medplum.post(medplum.fhirUrl('QuestionnaireResponse', '$evaluate'), qr('Patient/m3'))) as RiskAssessment;
    expect(evaluated.resourceType).toBe('RiskAssessment');
    const before = await writtenCounts(served.t.store);
    const batch = await medplum.executeBatch({
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: 'Questionnaire/calf-pain' } },
        { resource: qr('Patient/m3'), request: { method: 'POST', url: 'QuestionnaireResponse' } },
      ],
    });
    expect((batch.entry as BundleEntry[]).map((e) => e.response?.status)).toEqual(['200 OK', '201 Created']);
    const transaction = await medplum.executeBatch({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: 'urn:uuid:6b7c1f2e-4d1a-4f3b-9a0c-2e5d7f8a9b10',
          resource: qr('Patient/m3'),
          request: { method: 'POST', url: 'QuestionnaireResponse' },
        },
        { request: { method: 'GET', url: 'RiskAssessment?basis=urn:uuid:6b7c1f2e-4d1a-4f3b-9a0c-2e5d7f8a9b10' } },
      ],
    });
    expect(transaction.type).toBe('transaction-response');
    expect((transaction.entry?.[1].resource as Bundle).total).toBe(1);
    const after = await writtenCounts(served.t.store);
    expect(after.QuestionnaireResponse - before.QuestionnaireResponse).toBe(2);
  });
});
