import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import request from 'supertest';
import { checkServiceModule, loadServices, ServiceModuleError, SERVICES_DIR } from '../src/http/cds-hooks/discovery';
import { createCdsHooksRouter } from '../src/http/cds-hooks/routes';
import { definition as calfPainDvt, handler as calfPainHandler } from '../src/http/cds-hooks/services/calf-pain-dvt';
import { PATIENT_ID, useCdsHarness } from './fixtures/cds/harness';

const h = useCdsHarness();

describe('CDS service modules', () => {
  it('discovery lists the modules of services/ in file-name order', () => {
    expect(loadServices().definitions.map((d) => d.id)).toEqual(['calf-pain-dvt', 'dvt-workup-order-select']);
  });

  it('refuses a module with a missing or wrong field', () => {
    const ok = { definition: calfPainDvt, handler: calfPainHandler };
    const without = (field: string) => ({
      ...ok,
      definition: Object.fromEntries(Object.entries(calfPainDvt).filter(([k]) => k !== field)),
    });
    for (const field of ['hook', 'id', 'title', 'description', 'prefetch', 'usageRequirements']) {
      expect(() => checkServiceModule(without(field), 'calf-pain-dvt.ts')).toThrow(ServiceModuleError);
    }
    expect(() => checkServiceModule({ definition: calfPainDvt }, 'calf-pain-dvt.ts')).toThrow(/handler/);
    expect(() => checkServiceModule({ assessMostRecent: () => undefined }, 'assess.ts')).toThrow(/definition/);
    expect(() => checkServiceModule({ ...ok, definition: { ...calfPainDvt, hook: 'Patient View' } }, 'calf-pain-dvt.ts')).toThrow(/hook/);
    expect(
      checkServiceModule({ ...ok, definition: { ...calfPainDvt, hook: 'org.example.calf-pain-review' } }, 'calf-pain-dvt.ts').definition
        .hook,
    ).toBe('org.example.calf-pain-review');
    expect(() => checkServiceModule(ok, 'other-name.ts')).toThrow(/file name/);
  });

  it('a third service is one more module, on a hook no other service has: listed in discovery and routed to', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-services-'));
    try {
      for (const f of fs.readdirSync(SERVICES_DIR).filter((x) => x.endsWith('.ts'))) {
        const real = path.join(SERVICES_DIR, f).replace(/\.ts$/, '');
        fs.writeFileSync(path.join(dir, f), `export { definition, handler } from ${JSON.stringify(real)};\n`);
      }
      fs.writeFileSync(
        path.join(dir, 'zz-calf-pain-echo.ts'),
        `export const definition = { hook: 'encounter-start', id: 'zz-calf-pain-echo', title: 'Echo', description: 'Says hello.',
           prefetch: {}, usageRequirements: 'Tests only.' };
         export const handler = async (_deps: unknown, _rules: unknown, request: { context: { patientId: string } }) => ({
           drafts: [{ kind: 'echo', card: { uuid: '0b1c6c2e-5f57-4b4f-9c39-8f3c0f7d2a11', summary: 'Hello ' + request.context.patientId,
             indicator: 'info', source: { label: 'Echo' } } }] });\n`,
      );
      const services = loadServices(dir);
      // The app reads the JSON body before the router (app.ts); here a plain JSON parser stands in for it.
      const app = express().use(express.json()).use('/cds-services', createCdsHooksRouter(h.deps, { services }));
      const listed = await request(app).get('/cds-services').expect(200);
      expect(listed.body.services.map((s: { id: string }) => s.id)).toEqual([
        'calf-pain-dvt',
        'dvt-workup-order-select',
        'zz-calf-pain-echo',
      ]);
      const called = await request(app)
        .post('/cds-services/zz-calf-pain-echo')
        .send({
          hook: 'encounter-start',
          hookInstance: 'd1577c69-dfbe-44ad-ba6d-3e05e953b2ea',
          context: { patientId: PATIENT_ID, userId: 'Practitioner/1', encounterId: 'enc-1' },
        })
        .expect(200);
      expect(called.body.cards.map((c: { summary: string }) => c.summary)).toEqual([`Hello ${PATIENT_ID}`]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a folder holding a module that is not a service', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cds-services-'));
    try {
      fs.writeFileSync(path.join(dir, 'helper.ts'), 'export const helper = 1;\n');
      expect(() => loadServices(dir)).toThrow(ServiceModuleError);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
