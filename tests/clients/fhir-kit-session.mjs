// A fhir-kit-client session (the package is ES-module only, so it runs in its own Node process):
// the calls an integrator makes. Reads FHIR_BASE, TOKEN and RESPONSE (a QuestionnaireResponse, JSON)
// from the environment and prints one JSON object of what it saw.
import { Client } from 'fhir-kit-client';

const client = new Client({ baseUrl: process.env.FHIR_BASE, bearerToken: process.env.TOKEN });
const response = JSON.parse(process.env.RESPONSE);
const out = {};

const created = await client.create({ resourceType: 'QuestionnaireResponse', body: response });
out.createdVersion = created.meta.versionId;
out.read = (await client.read({ resourceType: 'QuestionnaireResponse', id: created.id })).id === created.id;
out.vread = (await client.vread({ resourceType: 'QuestionnaireResponse', id: created.id, version: '1' })).meta.versionId;
const updated = await client.update({
  resourceType: 'QuestionnaireResponse',
  id: created.id,
  body: { ...created, status: 'amended' },
  options: { headers: { 'If-Match': 'W/"1"' } },
});
out.updatedVersion = updated.meta.versionId;
out.instanceHistory = (await client.resourceHistory({ resourceType: 'QuestionnaireResponse', id: created.id })).total;
out.typeHistory = (await client.typeHistory({ resourceType: 'RiskAssessment' })).type;
out.systemHistory = (await client.systemHistory()).type;

await client.create({ resourceType: 'QuestionnaireResponse', body: response });
await client.create({ resourceType: 'QuestionnaireResponse', body: response });
let page = await client.search({ resourceType: 'QuestionnaireResponse', searchParams: { patient: response.subject.reference, _count: 2 } });
out.pages = [page.entry.length];
while ((page = await client.nextPage({ bundle: page }))) out.pages.push(page.entry.length);
out.postSearch = (
  await client.search({
    resourceType: 'QuestionnaireResponse',
    searchParams: { patient: response.subject.reference },
    options: { postSearch: true },
  })
).total;

const identifier = { system: 'https://portal.example.org', value: 'fhir-kit-1' };
const ifNoneExist = { headers: { 'If-None-Exist': `identifier=${identifier.system}|${identifier.value}` } };
const first = await client.create({ resourceType: 'QuestionnaireResponse', body: { ...response, identifier }, options: ifNoneExist });
const again = await client.create({ resourceType: 'QuestionnaireResponse', body: { ...response, identifier }, options: ifNoneExist });
out.conditionalCreateSame = first.id === again.id;

out.evaluate = (await client.operation({ resourceType: 'QuestionnaireResponse', name: '$evaluate', input: response })).resourceType;
/** fhir-kit's batch/transaction argument: the Bundle as body. */
const bundle = (type, entry) => ({ body: { resourceType: 'Bundle', type, entry } });
out.batch = (
  await client.batch(
    bundle('batch', [
      { request: { method: 'GET', url: 'Questionnaire/calf-pain' } },
      { request: { method: 'GET', url: 'RiskAssessment?risk=|high' } },
    ]),
  )
).entry.map((e) => e.response.status);
out.transaction = (
  await client.transaction(
    bundle('transaction', [
      {
        fullUrl: 'urn:uuid:0d9f1c6a-7b8e-4a5f-9c3d-2e1f0a9b8c7d',
        resource: response,
        request: { method: 'POST', url: 'QuestionnaireResponse' },
      },
      { request: { method: 'GET', url: 'RiskAssessment?basis=urn:uuid:0d9f1c6a-7b8e-4a5f-9c3d-2e1f0a9b8c7d' } },
    ]),
  )
).entry.map((e) => e.response.status);

process.stdout.write(JSON.stringify(out));
